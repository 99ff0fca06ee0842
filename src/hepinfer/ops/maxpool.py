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
