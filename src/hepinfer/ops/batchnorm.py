"""Batch normalisation in inference form: `y = x * scale + bias` per channel (last axis).

Frontends store `scale = gamma / sqrt(var + eps)` and `bias = beta - mean * scale`; the
`fold_batchnorm` pass merges it into a preceding Dense/Conv. Standalone, the fixed-point
kernel follows hls4ml's `normalize`: the product `x * scale` (scale in `weight_t`) at full
precision plus `bias` (in `bias_t`), assigned to `result_t`.
"""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, need, same_shape, weight
from hepinfer.ops.fxarray import FxArray, product_type


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    out: FloatArray = xs[0] * weight(node, "scale") + weight(node, "bias")
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tb, tr = need(node, "weight"), need(node, "bias"), need(node, "result")
    pt = product_type(x.t, tw)
    prod = x.m * tw.to_mantissa(weight(node, "scale"))
    frac = max(pt.frac, tb.frac)
    integer = max(pt.integer, tb.integer) + 1
    st = FixedType(width=integer + frac, integer=integer, signed=True)
    total = (prod << (frac - pt.frac)) + (tb.to_mantissa(weight(node, "bias")) << (frac - tb.frac))
    return FxArray(tr.cast_mantissa(total, st), tr)


SPEC = OpSpec(
    Op.BATCHNORM,
    same_shape,
    run_float,
    run_fixed,
    ("weight", "bias", "result"),
    "BatchNormalization",
)
