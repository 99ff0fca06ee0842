"""Global average pooling over all spatial positions (channels-last); arithmetic in `hepinfer.ops.pooling`."""

from __future__ import annotations

from hepinfer.ir.op import Op
from hepinfer.ops import pooling
from hepinfer.ops.base import OpSpec

SPEC = OpSpec(
    Op.GLOBAL_AVGPOOL,
    pooling.global_shape,
    pooling.global_avg_float,
    pooling.global_avg_fixed,
    ("accum", "result"),
    "GlobalAveragePooling",
)


# ---------------------------------------------------------------------------- cost (estimate)
# Target hooks are appended below SPEC (one home per operator, hepinfer.ops.hook).
from hepinfer.ir.graph import Node
from hepinfer.ops import costing
from hepinfer.ops.cost import LayerCost, NodeContext


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Global average pooling of a (w, c) or (h, w, c) input."""
    return costing.pool(node, ctx, "average", global_=True)
