"""Max pooling 1D/2D (channels-last); arithmetic in `hepinfer.ops.pooling`."""

from __future__ import annotations

from hepinfer.ir.op import Op
from hepinfer.ops import pooling
from hepinfer.ops.base import OpSpec

SPEC = OpSpec(
    Op.MAXPOOL,
    pooling.shape,
    pooling.max_float,
    pooling.max_fixed,
    ("accum", "result"),
    "MaxPooling",
)


# ---------------------------------------------------------------------------- cost (estimate)
# Target hooks are appended below SPEC (one home per operator, hepinfer.ops.hook).
from hepinfer.ir.graph import Node
from hepinfer.ops import costing
from hepinfer.ops.cost import LayerCost, NodeContext


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Max pooling of a (w, c) or (h, w, c) input."""
    return costing.pool(node, ctx, "max", global_=False)
