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
