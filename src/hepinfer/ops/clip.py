"""Clip: `min(max(x, lo), hi)` with constant bounds (ONNX `Clip`; with lo 0 a bounded ReLU).

Attributes `min` and `max` (float, or None for an open side). The bounds are held in
`weight_t`; the comparisons are exact between the input's type and `weight_t`, and the chosen
value (x or a bound) is assigned to `result_t` (kernel `clip`).
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
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, held, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes


def bounds(node: Node) -> tuple[float | None, float | None]:
    """(lo, hi); None where that side is open."""
    lo, hi = node.attrs.get("min"), node.attrs.get("max")
    out = (None if lo is None else float(lo), None if hi is None else float(hi))
    if out[0] is not None and out[1] is not None and out[0] > out[1]:
        msg = f"Clip {node.name!r}: min {out[0]} is above max {out[1]}; swap them"
        raise GraphError(msg)
    return out


def weight_values(node: Node) -> FloatArray:
    """The values the kernel holds in `weight_t`: [lo, hi] (0 for an open side)."""
    lo, hi = bounds(node)
    return np.array([0.0 if lo is None else lo, 0.0 if hi is None else hi], dtype=np.float64)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    lo, hi = bounds(node)
    out: FloatArray = np.clip(xs[0], -np.inf if lo is None else lo, np.inf if hi is None else hi)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tr = need(node, "weight"), need(node, "result")
    lo, hi = bounds(node)
    frac = max(x.t.frac, tw.frac)
    integer = max(x.t.integer + (0 if x.t.signed else 1), tw.integer + (0 if tw.signed else 1))
    common = FixedType(max(integer + frac, 2), integer, True)
    if common.width > 64:
        msg = f"Clip {node.name!r}: input {x.t} and bounds {tw} need {common.width} bits (max 64)"
        raise GraphError(msg)
    m = align(x.m, x.t.frac, frac)
    held_m = align(tw.to_mantissa(weight_values(node)), tw.frac, frac)
    if lo is not None:
        m = np.maximum(m, held_m[0])
    if hi is not None:
        m = np.minimum(m, held_m[1])
    return FxArray(tr.cast_mantissa(m, common), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, result."""
    del inputs
    return result_types(node, ("weight", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Clip is monotone: the input bounds clipped to the bounds as `weight_t` holds them."""
    x_lo, x_hi = one(node, inputs)
    lo, hi = bounds(node)
    b = held(weight_values(node), node.precision.weight)
    a = -np.inf if lo is None else float(b[0])
    z = np.inf if hi is None else float(b[1])
    return np.clip(x_lo, a, z), np.clip(x_hi, a, z)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`clip`: bounds [lo, hi] in `weight_t`, `has_min` / `has_max` for the closed sides."""
    inputs_count(node, inputs, 1, "HLS")
    tw = need(node, "weight")
    lo, hi = bounds(node)
    consts = {
        **sizes(node, inputs),
        "has_min": "1" if lo is not None else "0",
        "has_max": "1" if hi is not None else "0",
    }
    arrays = (HlsArray("bounds", "weight", tw, tw.to_mantissa(weight_values(node))),)
    return Lowering("clip", consts, {"weight_t": tw}, arrays, same_width=True)


SPEC = OpSpec(Op.CLIP, same_shape, run_float, run_fixed, ("weight", "result"), "Clip")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Two comparators and a multiplexer per element: priced as a bounded ReLU (`relu6`)."""
    return costing.activation(node, ctx, "relu6")
