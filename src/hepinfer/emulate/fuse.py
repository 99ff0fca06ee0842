"""Chains of Dense (+ ReLU / linear activation) nodes that the native kernel runs in one call.

A chain is a run of nodes in which each node's only reader is the next one and no inner
node's output is a graph output: Dense, optionally followed by one ReLU or Linear
activation, then the next Dense, and so on. The emulator runs a chain as one native call
(`hepinfer.ops.dense.run_chain`) when not tracing; the bits are those of the node-by-node
run (tested).
"""

from __future__ import annotations

from collections import Counter

from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op

_ACTIVATIONS = (Op.RELU, Op.LINEAR)


def dense_chains(graph: Graph) -> dict[str, tuple[Node, ...]]:
    """Chains of two or more nodes, by the name of their first (Dense) node."""
    readers = Counter(i for n in graph.nodes for i in n.inputs)
    by_input: dict[str, Node] = {}
    for n in graph.nodes:
        for i in n.inputs:
            by_input[i] = n
    outputs = set(graph.outputs)
    chains: dict[str, tuple[Node, ...]] = {}
    taken: set[str] = set()
    for node in graph.nodes:
        if node.op is not Op.DENSE or node.name in taken or len(node.out.shape) != 1:
            continue
        members = [node]
        while True:
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
        if len(members) > 1:
            chains[node.name] = tuple(members)
            taken.update(m.name for m in members)
    return chains
