"""Add of two tensors (arithmetic in `hepinfer.ops.merge`)."""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops import merge
from hepinfer.ops.base import FloatArray, OpSpec


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    out: FloatArray = xs[0] + xs[1]
    return out


SPEC = OpSpec(Op.ADD, merge.shape, run_float, merge.add_fixed, ("result",), "Merge")


# ---------------------------------------------------------------------------- cost (estimate)
# Target hooks are appended below SPEC (one home per operator, hepinfer.ops.hook).
from hepinfer.ops import costing
from hepinfer.ops.cost import LayerCost, NodeContext


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """An element-wise sum of the inputs, costed at the widest input type."""
    return costing.merge(node, ctx, "add")
