"""HardSigmoid: `clip(slope * x + shift, 0, 1)` (hls4ml's `hard_sigmoid`; slope and shift
in `weight_t`, computed at full precision, assigned to `result_t`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, envelope, held, one, unsigned_result
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes
from hepinfer.ops.quant import quantize_float


def _params(node: Node) -> tuple[float, float]:
    return float(node.attrs.get("slope", 0.2)), float(node.attrs.get("shift", 0.5))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    slope, shift = _params(node)
    out: FloatArray = np.clip(slope * xs[0] + shift, 0.0, 1.0)
    quantizer = node.attrs.get("quantizer")  # QKeras quantized_sigmoid
    return out if quantizer is None else quantize_float(out, quantizer)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tr = need(node, "weight"), need(node, "result")
    slope, shift = (int(v) for v in tw.to_mantissa(np.array(_params(node))))
    frac = x.t.frac + tw.frac
    value = x.m * slope + (shift << x.t.frac)
    one = 1 << frac
    value = np.clip(value, 0, one)
    src = FixedType(64, 64 - frac, True)
    return FxArray(tr.cast_mantissa(value, src), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, result."""
    del inputs
    return result_types(node, ("weight", "result"))


def weight_values(node: Node) -> FloatArray:
    """The values the kernel holds in `weight_t` (slope and shift), as `auto` weight types size them."""
    return np.array(list(_params(node)), dtype=np.float64)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """`clip(slope * x + shift, 0, 1)`: the corners, clipped (slope and shift as `weight_t`
    holds them).
    """
    lo, hi = one(node, inputs)
    slope, shift = (float(v) for v in held(weight_values(node), node.precision.weight))
    out_lo, out_hi = envelope([slope * lo + shift, slope * hi + shift])
    return np.clip(out_lo, 0.0, 1.0), np.clip(out_hi, 0.0, 1.0)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`hard_sigmoid`: slope and shift in `weight_t`."""
    inputs_count(node, inputs, 1, "HLS")
    tw = need(node, "weight")
    arrays = (HlsArray("p", "weight", tw, tw.to_mantissa(weight_values(node))),)
    return Lowering("hard_sigmoid", sizes(node, inputs), {"weight_t": tw}, arrays, same_width=True)


def auto_result(default: FixedType, hi: float | None) -> FixedType:
    """The `auto` result type: non-negative and bounded, so unsigned with the integer bits
    its upper bound `hi` needs (1 without an interval), the default's width.
    """
    return unsigned_result(default, hi)


SPEC = OpSpec(
    Op.HARD_SIGMOID, same_shape, run_float, run_fixed, ("weight", "result"), "HardActivation"
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A hard_sigmoid per output element: comparators and multiplexers, no tables."""
    return costing.activation(node, ctx, "hard_sigmoid")
