"""Average pooling 1D/2D (channels-last); arithmetic in `hepinfer.ops.pooling`."""

from __future__ import annotations

from hepinfer.ir.op import Op
from hepinfer.ops import pooling
from hepinfer.ops.base import OpSpec

SPEC = OpSpec(
    Op.AVGPOOL,
    pooling.shape,
    pooling.avg_float,
    pooling.avg_fixed,
    ("accum", "result"),
    "AveragePooling",
)
