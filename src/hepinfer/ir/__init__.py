"""hepinfer's model IR: an immutable graph of typed nodes, a verifier and a text form."""

from hepinfer.ir.graph import Graph, Node, NodePrecision, TensorType
from hepinfer.ir.op import Op
from hepinfer.ir.printer import format_graph, format_node
from hepinfer.ir.verify import verify

__all__ = [
    "Graph",
    "Node",
    "NodePrecision",
    "Op",
    "TensorType",
    "format_graph",
    "format_node",
    "verify",
]
