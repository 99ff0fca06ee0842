"""The graph verifier: run after building a graph and after every pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepinfer.errors import GraphError
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op

if TYPE_CHECKING:
    from hepinfer.fixed import FixedType


def verify(graph: Graph) -> Graph:
    """Check the graph's invariants and return it unchanged; raise GraphError otherwise.

    Invariants: unique node names, inputs defined earlier (topological order), every input
    node has no inputs and every other node at least one, outputs exist, each output shape
    equals what the op's shape inference gives, and the op's own attribute checks pass. In a
    configured graph (any tensor has a fixed-point type) every tensor has one, and each
    node's type and precision equal what its op's `infer_types` rule gives.
    """
    from hepinfer.ops import spec

    seen: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        if node.name in seen:
            msg = (
                f"graph {graph.name!r}: node name {node.name!r} is used twice; names must be unique"
            )
            raise GraphError(msg)
        if node.op is Op.INPUT:
            if node.inputs:
                msg = f"input node {node.name!r} has inputs {node.inputs}; inputs take none"
                raise GraphError(msg)
        elif not node.inputs:
            msg = f"node {node.name!r} ({node.op.value}) has no inputs"
            raise GraphError(msg)
        for src in node.inputs:
            if src not in seen:
                msg = (
                    f"node {node.name!r} reads {src!r}, which is not produced by an earlier "
                    "node; nodes must be in topological order"
                )
                raise GraphError(msg)
        seen[node.name] = i
        if node.op is not Op.INPUT:
            in_types = [graph.nodes[seen[s]].out for s in node.inputs]
            expected = spec(node.op).shape(node, in_types)
            if expected != node.out.shape:
                msg = (
                    f"node {node.name!r} ({node.op.value}) declares output shape "
                    f"{node.out.shape} but its inputs give {expected}"
                )
                raise GraphError(msg)
    if not graph.outputs:
        msg = f"graph {graph.name!r} has no outputs"
        raise GraphError(msg)
    for out in graph.outputs:
        if out not in seen:
            msg = f"graph {graph.name!r} output {out!r} is not a node"
            raise GraphError(msg)
    if not graph.inputs:
        msg = f"graph {graph.name!r} has no input node"
        raise GraphError(msg)
    if any(n.out.fixed is not None for n in graph.nodes):
        _verify_types(graph)
    return graph


def _verify_types(graph: Graph) -> None:
    from hepinfer.ops import hook

    types: dict[str, FixedType] = {}
    for node in graph.nodes:
        if node.out.fixed is None:
            msg = (
                f"graph {graph.name!r}: tensor {node.name!r} ({node.op.value}) has no fixed-point "
                "type while others have; run type inference (hepinfer.passes.infer_types) "
                "after changing a configured graph"
            )
            raise GraphError(msg)
        out, precision = hook(node.op, "infer_types")(node, [types[i] for i in node.inputs])
        if out != node.out.fixed or precision != node.precision:
            msg = (
                f"graph {graph.name!r}: node {node.name!r} ({node.op.value}) carries type "
                f"{node.out.fixed} and precision {node.precision}, but its op's rule gives {out} "
                f"and {precision}; run type inference (hepinfer.passes.infer_types) after "
                "changing a configured graph"
            )
            raise GraphError(msg)
        types[node.name] = out
