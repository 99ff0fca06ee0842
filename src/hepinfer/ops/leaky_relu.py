"""LeakyReLU: `x > 0 ? x : alpha * x` (hls4ml's `leaky_relu`; alpha in `weight_t`,
the product at full precision, assigned to `result_t`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hepinfer.errors import RtlError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.netlist.core import literal
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, envelope, held, one
from hepinfer.ops.cost import ActivationCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes
from hepinfer.ops.quant import quantize_float


def _alpha(node: Node) -> float:
    return float(node.attrs.get("alpha", 0.3))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    out: FloatArray = np.where(x > 0, x, _alpha(node) * x)
    quantizer = node.attrs.get("quantizer")  # QKeras quantized_relu(negative_slope=...)
    return out if quantizer is None else quantize_float(out, quantizer)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tr = need(node, "weight"), need(node, "result")
    pt = product_type(x.t, tw)
    alpha = int(tw.to_mantissa(np.array([_alpha(node)]))[0])
    scaled = x.m * alpha
    pos = x.m << tw.frac
    return FxArray(tr.cast_mantissa(np.where(x.m > 0, pos, scaled), pt), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, result."""
    del inputs
    return result_types(node, ("weight", "result"))


def weight_values(node: Node) -> FloatArray:
    """The values the kernel holds in `weight_t` (alpha), as `auto` weight types size them."""
    return np.array([_alpha(node)], dtype=np.float64)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """`x > 0 ? x : alpha * x` is linear on each side of 0: its values at lo, hi and 0."""
    lo, hi = one(node, inputs)
    alpha = float(held(weight_values(node), node.precision.weight)[0])
    at = [np.where(v > 0, v, alpha * v) for v in (lo, hi)]
    zero = np.where((lo < 0) & (hi > 0), 0.0, at[0])
    return envelope([*at, zero])


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`leaky_relu`: alpha in `weight_t`."""
    inputs_count(node, inputs, 1, "HLS")
    tw = need(node, "weight")
    arrays = (HlsArray("a", "weight", tw, tw.to_mantissa(weight_values(node))),)
    return Lowering("leaky_relu", sizes(node, inputs), {"weight_t": tw}, arrays, same_width=True)


SPEC = OpSpec(Op.LEAKY_RELU, same_shape, run_float, run_fixed, ("weight", "result"), "LeakyReLU")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A leaky_relu per output element: selects and its constant slope (alpha as `weight_t`
    holds it: 1 is an identity, 0 a ReLU, a power of two a shift), no tables.
    """
    slope = float(held(weight_values(node), node.precision.weight)[0])
    costs = costing.activation(node, ctx, "leaky_relu")
    return [replace(c, slope=slope) if isinstance(c, ActivationCost) else c for c in costs]


def sign_select(net: Netlist, x: Val, positive: Val, negative: Val, strict: bool) -> Val:
    """`positive` where `x > 0` (`strict`) or `x >= 0`, else `negative` (same scaling): a
    comparison with zero (or the sign bit) and a multiplexer.
    """
    if positive.frac != negative.frac:
        msg = "internal error: selecting between values of different scaling"
        raise RtlError(msg)
    if x.const is not None:
        return positive if (x.const > 0 if strict else x.const >= 0) else negative
    cost = net.delays.compare(x.width) if strict else net.delays.lut
    (x2, p2, n2), stage, ready = net.schedule((x, positive, negative), cost)
    cond = f"({x2.ref} > {literal(0)})" if strict else f"~{x2.name}[{x.width - 1}]"
    return net.wire(
        f"{cond} ? {p2.ref} : {n2.ref}",
        min(positive.lo, negative.lo),
        max(positive.hi, negative.hi),
        positive.frac,
        stage,
        ready + cost,
        "sel",
    )


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """`run_fixed` as logic: `x` and `x * alpha` (a constant product), a multiplexer on
    `x > 0`, the cast to `result_t`.
    """
    del inputs
    tw, tr = need(node, "weight"), need(node, "result")
    alpha = int(tw.to_mantissa(np.array([_alpha(node)]))[0])
    outs = []
    for x in xs[0]:
        pos = net.rescale(x, x.frac + tw.frac)
        neg = arith.cmul(net, x, alpha, tw.frac)
        outs.append(arith.cast(net, sign_select(net, x, pos, neg, strict=True), tr))
    return outs
