"""QONNX `MultiThreshold`: `out_scale * #{t : x >= t} + out_bias` per channel (last axis).

`weights['thresholds']`: (channels or 1, steps). The thresholds are held in `weight_t`
and compared exactly with the input; the count times `out_scale` plus `out_bias` is exact
in the op's own type (both must be binary fractions) and is assigned to `result_t`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, align
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape, weight
from hepinfer.ops.bounds import Bounds, Interval, cast, held, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes


def _thresholds(node: Node, channels: int) -> FloatArray:
    t = np.asarray(weight(node, "thresholds"), dtype=np.float64)
    if t.ndim != 2 or t.shape[0] not in (1, channels):
        msg = f"MultiThreshold {node.name!r}: thresholds {t.shape} must be (1 or {channels}, steps)"
        raise GraphError(msg)
    return np.sort(np.broadcast_to(t, (channels, t.shape[1])), axis=1)


def weight_values(node: Node) -> FloatArray:
    """The thresholds, as `auto` weight types size them."""
    return np.asarray(weight(node, "thresholds"), dtype=np.float64).reshape(-1)


def scale_bias_type(node: Node) -> FixedType:
    """An exact type for out_scale, out_bias and every out_scale * k + out_bias."""
    scale, bias = float(node.attrs.get("out_scale", 1.0)), float(node.attrs.get("out_bias", 0.0))
    steps = int(weight(node, "thresholds").shape[1])
    for frac in range(33):
        if all(float(v * 2.0**frac).is_integer() for v in (scale, bias)):
            break
    else:
        msg = f"MultiThreshold {node.name!r}: out_scale {scale} / out_bias {bias} are not binary fractions"
        raise GraphError(msg)
    top = max(abs(scale) * steps + abs(bias), abs(scale), abs(bias), 1.0)
    integer = int(np.ceil(np.log2(top + 2.0**-frac))) + 1
    return FixedType(integer + frac, integer, True)


def _count(x: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """Per element of x (..., C), how many thresholds of its channel it reaches."""
    counts: np.ndarray = (x[..., None] >= thr).sum(axis=-1)
    return counts


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    k = _count(x, _thresholds(node, x.shape[-1]))
    out: FloatArray = float(node.attrs.get("out_scale", 1.0)) * k + float(
        node.attrs.get("out_bias", 0.0)
    )
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tr = need(node, "weight"), need(node, "result")
    frac = max(x.t.frac, tw.frac)
    thr = align(tw.to_mantissa(_thresholds(node, x.m.shape[-1])), tw.frac, frac)
    k = _count(align(x.m, x.t.frac, frac), thr)
    ts = scale_bias_type(node)
    s, b = ts.to_mantissa(
        np.array([node.attrs.get("out_scale", 1.0), node.attrs.get("out_bias", 0.0)])
    )
    return FxArray(tr.cast_mantissa(s * k + b, ts), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, result."""
    del inputs
    return result_types(node, ("weight", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The counts are monotone in x: the outputs at the input's bounds, cast to `result_t`."""
    lo, hi = one(node, inputs)
    thr = held(_thresholds(node, lo.shape[-1]), node.precision.weight)
    scale, bias = float(node.attrs.get("out_scale", 1.0)), float(node.attrs.get("out_bias", 0.0))
    a, z = scale * _count(lo, thr) + bias, scale * _count(hi, thr) + bias
    return cast(node.precision.result, (np.minimum(a, z), np.maximum(a, z)))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`multithreshold`: thresholds (channels x steps, `weight_t`), [scale, bias] (`bias_t`)."""
    inputs_count(node, inputs, 1, "HLS")
    tw, ts = need(node, "weight"), scale_bias_type(node)
    channels = int(inputs[0].shape[-1])
    thr = _thresholds(node, channels)
    sb = np.array([node.attrs.get("out_scale", 1.0), node.attrs.get("out_bias", 0.0)])
    consts = {**sizes(node, inputs), "n_chan": str(channels), "n_steps": str(thr.shape[1])}
    arrays = (
        HlsArray("thr", "weight", tw, tw.to_mantissa(thr.reshape(-1))),
        HlsArray("sb", "bias", ts, ts.to_mantissa(sb)),
    )
    return Lowering(
        "multithreshold", consts, {"weight_t": tw, "bias_t": ts}, arrays, pixel_input=True
    )


SPEC = OpSpec(
    Op.MULTITHRESHOLD, same_shape, run_float, run_fixed, ("weight", "result"), "MultiThreshold"
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A comparator per threshold and element and a small adder: priced as a clipping
    activation (`relu6`) per element (an underestimate for many steps).
    """
    return costing.activation(node, ctx, "relu6")
