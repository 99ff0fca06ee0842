"""Batch normalisation in inference form: `y = x * scale + bias` per channel (last axis).

Frontends store `scale = gamma / sqrt(var + eps)` and `bias = beta - mean * scale`; the
`fold_batchnorm` pass merges it into a preceding Dense/Conv. Standalone, the fixed-point
kernel follows hls4ml's `normalize`: the product `x * scale` (scale in `weight_t`) at full
precision plus `bias` (in `bias_t`), assigned to `result_t`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.ops import costing
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape, weight
from hepinfer.ops.bounds import Bounds, Interval, envelope, held, one
from hepinfer.ops.cost import BatchNormCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    divisor = node.attrs.get("float32_divisor")
    if divisor is not None:  # a Quant's `x / scale + zeropt` in float32, as QONNX defines it
        x32 = np.asarray(xs[0], dtype=np.float32)
        z32 = weight(node, "bias").astype(np.float32)
        q: FloatArray = (x32 / np.asarray(divisor, dtype=np.float32) + z32).astype(np.float64)
        return q
    out: FloatArray = xs[0] * weight(node, "scale") + weight(node, "bias")
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tb, tr = need(node, "weight"), need(node, "bias"), need(node, "result")
    pt = product_type(x.t, tw)
    prod = x.m * tw.to_mantissa(weight(node, "scale"))  # exact: widths are at most 64 bits
    bias = tb.to_mantissa(weight(node, "bias"))
    frac = max(pt.frac, tb.frac)
    # size the exact sum by the actual magnitudes (the type bounds may need 65+ bits)
    p_max = int(np.abs(prod).max(initial=0)) << (frac - pt.frac)
    b_max = int(np.abs(bias).max(initial=0)) << (frac - tb.frac)
    width = max((p_max + b_max).bit_length() + 1, 2)
    if width > 64:
        msg = (
            f"BatchNormalization {node.name!r}: x * scale + bias needs {width} bits; "
            "use narrower input/scale/bias types (at most 64 bits in total)"
        )
        raise GraphError(msg)
    st = FixedType(width, width - frac, True)
    total = (prod << (frac - pt.frac)) + (bias << (frac - tb.frac))
    return FxArray(tr.cast_mantissa(total, st), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, bias, result."""
    del inputs
    return result_types(node, ("weight", "bias", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """`x * scale + bias` per channel: the corners (scale and bias as their types hold them)."""
    lo, hi = one(node, inputs)
    p = node.precision
    scale, bias = held(weight(node, "scale"), p.weight), held(weight(node, "bias"), p.bias)
    return envelope([lo * scale + bias, hi * scale + bias])


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`normalize`: per-channel scale (`weight_t`) and bias (`bias_t`) arrays."""
    inputs_count(node, inputs, 1, "HLS")
    tw, tb = need(node, "weight"), need(node, "bias")
    consts = {
        **sizes(node, inputs),
        "n_chan": str(inputs[0].shape[-1]),
        "reuse_factor": str(node.attrs.get("reuse_factor", 1)),
    }
    arrays = (
        HlsArray("s", "weight", tw, tw.to_mantissa(weight(node, "scale"))),
        HlsArray("b", "bias", tb, tb.to_mantissa(weight(node, "bias"))),
    )
    return Lowering("normalize", consts, {"weight_t": tw, "bias_t": tb}, arrays, pixel_input=True)


SPEC = OpSpec(
    Op.BATCHNORM,
    same_shape,
    run_float,
    run_fixed,
    ("weight", "bias", "result"),
    "BatchNormalization",
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A batch normalisation left in the graph (not folded): one product per element."""
    return [
        BatchNormCost(
            name=node.name,
            n=costing.size(node),
            n_chan=int(node.out.shape[-1]),
            input=ctx.input,
            scale=node.precision.weight or ctx.default,
            output=node.precision.result,
            reuse_factor=costing.reuse_factor(node),
            io_type=ctx.io_type,
        )
    ]


def hls4ml_auto(
    node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
) -> dict[str, FixedType]:
    """hls4ml's `auto` result: its scale-and-shift rule."""
    del node
    return {"result": rules.scale_shift(inputs[0], stored["weight"], stored["bias"])}


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """`run_fixed` as logic: per element its channel's constant product `x * scale` (shifts
    and adds or a DSP, as Dense's), plus the bias constant, cast to `result_t`.
    """
    tw, tb, tr = need(node, "weight"), need(node, "bias"), need(node, "result")
    shape = inputs[0].shape
    scale = np.broadcast_to(tw.to_mantissa(weight(node, "scale")), shape).ravel()
    bias = np.broadcast_to(tb.to_mantissa(weight(node, "bias")), shape).ravel()
    outs = []
    for x, s, b in zip(xs[0], scale.tolist(), bias.tolist(), strict=True):
        prod = arith.cmul(net, x, int(s), tw.frac)
        frac = max(prod.frac, tb.frac)
        total = net.add(
            net.rescale(prod, frac), net.rescale(net.const(int(b), tb.frac), frac), "bn"
        )
        outs.append(arith.cast(net, total, tr))
    return outs


def exact_result(node: Node, inputs: Sequence[FixedType]) -> FixedType:
    """The result of a `bit_exact` node (HGQ2 models): the type of every `x * scale + bias`
    (hls4ml's scale-and-shift rule is exact), nothing lost.
    """
    return rules.scale_shift(inputs[0], need(node, "weight"), need(node, "bias"))
