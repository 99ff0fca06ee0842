"""Type inference: every tensor's `FixedType` and every node's complete precision, as IR data.

Each op module answers for itself through its `infer_types(node, input_types)` hook: the type
its output carries (exactly the type the emulator's kernel returns) and the node's precision
with the defaults the kernel would otherwise pick filled in (table types, the Softmax
accumulator). This pass runs once at the end of `apply_config`; every target (emulator, HLS
writer, estimates) reads the result from the graph, and the verifier checks it.
"""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph, Node, TensorType
from hepinfer.ops import hook
from hepinfer.ops.base import Types


def node_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """(output type, complete precision) of `node` from its op's rule."""
    out: Types = hook(node.op, "infer_types")(node, inputs)
    return out


def input_types(graph: Graph, node: Node, known: dict[str, FixedType | None]) -> list[FixedType]:
    """The types of `node`'s inputs (GraphError naming the first untyped one)."""
    types = []
    for name in node.inputs:
        t = known.get(name)
        if t is None:
            msg = (
                f"node {node.name!r} ({node.op.value}) reads {name!r}, which has no fixed-point "
                f"type in graph {graph.name!r}; configure the graph "
                "(hepinfer.passes.apply_config runs type inference)"
            )
            raise GraphError(msg)
        types.append(t)
    return types


def infer_types(graph: Graph) -> Graph:
    """The graph with `out.fixed` and the complete precision set on every node."""
    known: dict[str, FixedType | None] = {}
    nodes = []
    for node in graph.nodes:
        out, precision = node_types(node, input_types(graph, node, known))
        known[node.name] = out
        nodes.append(node.replace(out=TensorType(node.out.shape, out), precision=precision))
    return graph.with_nodes(nodes)
