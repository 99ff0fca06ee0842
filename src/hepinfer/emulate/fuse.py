"""Chains of Dense (+ ReLU / linear activation) nodes that the native kernel runs in one call.

A chain is a run of nodes in which each node's only reader is the next one and no inner
node's output is a graph output: Dense, optionally followed by one ReLU or Linear
activation, then the next Dense, and so on; a single Dense node is a chain of one. The
emulator runs a chain as one native call (`run_chain`) when not tracing and the engine
allows it; the bits are those of the node-by-node numpy run (tested).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from hepinfer.emulate import native
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op
from hepinfer.ops.base import need
from hepinfer.ops.dense import mantissas

_ACTIVATIONS = (Op.RELU, Op.LINEAR)


def dense_chains(graph: Graph) -> dict[str, tuple[Node, ...]]:
    """Chains (one Dense node or more), by the name of their first (Dense) node."""
    readers = Counter(i for n in graph.nodes for i in n.inputs)
    by_input: dict[str, Node] = {}
    for n in graph.nodes:
        for i in n.inputs:
            by_input[i] = n
    outputs = set(graph.outputs)
    chains: dict[str, tuple[Node, ...]] = {}
    taken: set[str] = set()
    for node in graph.nodes:
        if node.op is not Op.DENSE or node.name in taken:
            continue
        members = [node]
        while len(node.out.shape) == 1:  # a Dense over pixels or time steps runs alone
            last = members[-1]
            if readers[last.name] != 1 or last.name in outputs:
                break
            nxt = by_input[last.name]
            if len(nxt.inputs) != 1 or len(nxt.out.shape) != 1:
                break
            if nxt.op is Op.DENSE or (nxt.op in _ACTIVATIONS and last.op is Op.DENSE):
                members.append(nxt)
            else:
                break
        chains[node.name] = tuple(members)
        taken.update(m.name for m in members)
    return chains


def run_chain(nodes: Sequence[Node], x: FxArray) -> FxArray | None:
    """A chain of Dense nodes, each optionally followed by one ReLU or Linear node, in one
    native call; None when the native kernel cannot run it (numpy engine, no compiler, bit
    widths it cannot hold exactly: then the nodes run one by one, with the same bits).
    """
    layers: list[native.Layer] = []
    tx = x.t
    for node in nodes:
        if node.op is Op.DENSE:
            wm, bias = mantissas(node)
            tr = need(node, "result")
            layers.append(native.Layer(wm, bias, tx, need(node, "weight"), need(node, "accum"), tr))
        elif layers and layers[-1].relu is None:
            tr = need(node, "result")
            layers[-1] = dataclasses.replace(layers[-1], relu=tr, linear=node.op is Op.LINEAR)
        else:
            return None
        tx = tr
    out = native.chain(x.m.reshape(-1, layers[0].weight.shape[0]), layers)
    if out is None:
        return None
    return FxArray(out.reshape(*x.m.shape[:-1], out.shape[-1]), tx)
