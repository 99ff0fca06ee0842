"""Global max pooling over all spatial positions (channels-last); arithmetic in `hepinfer.ops.pooling`."""

from __future__ import annotations

from hepinfer.ir.op import Op
from hepinfer.ops import pooling
from hepinfer.ops.base import OpSpec

SPEC = OpSpec(
    Op.GLOBAL_MAXPOOL,
    pooling.global_shape,
    pooling.global_max_float,
    pooling.global_max_fixed,
    ("accum", "result"),
    "GlobalMaxPooling",
)
