"""Depthwise Conv2D (depth multiplier 1), channels-last: kernel `(kh, kw, c, 1)`.

Per channel, exactly the Dense arithmetic of `hepinfer.ops.dense` over the window. The
functions work for any number of spatial axes (the kernel's rank minus 2):
`hepinfer.ops.depthwise_conv1d` uses them with kernel `(k, c, 1)`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import convnd, costing
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types, weight
from hepinfer.ops.bounds import Bounds, Interval, accumulated, one
from hepinfer.ops.conv import geometry, patches
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.dense import accumulate, held_weights
from hepinfer.ops.lowering import Lowering


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    in_shape = inputs[0].shape
    if len(in_shape) != rank + 1 or kernel.shape[rank] != in_shape[-1] or kernel.shape[-1] != 1:
        msg = f"{node.op.value} {node.name!r}: kernel {kernel.shape} does not fit input {in_shape} (depth multiplier must be 1)"
        raise GraphError(msg)
    _, _, _, out = geometry(node, in_shape[:rank], kernel.shape[:rank])
    return (*out, in_shape[-1])


def _windows(node: Node, x: np.ndarray) -> np.ndarray:
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    strides, dilations, pads, _ = geometry(node, x.shape[1 : rank + 1], kernel.shape[:rank])
    p = patches(x, kernel.shape[:rank], strides, dilations, pads)
    return p.reshape(*p.shape[: rank + 1], -1, p.shape[-1])  # (batch, *out, taps, c)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    kernel = weight(node, "kernel")
    p = _windows(node, xs[0])
    out: FloatArray = (p * kernel.reshape(-1, kernel.shape[-2])).sum(axis=-2) + weight(node, "bias")
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tb, ta, tr = (need(node, v) for v in ("weight", "bias", "accum", "result"))
    kernel = weight(node, "kernel")
    wm = tw.to_mantissa(kernel.reshape(-1, kernel.shape[-2]))
    bias = ta.cast_mantissa(tb.to_mantissa(weight(node, "bias")), tb)
    p = _windows(node, x.m)
    lead = p.shape[:-2]
    cols = [
        accumulate(
            p[..., c].reshape(-1, p.shape[-2]), wm[:, c : c + 1], x.t, tw, ta, bias[c : c + 1]
        )
        for c in range(p.shape[-1])
    ]
    acc = np.concatenate(cols, axis=1).reshape(*lead, p.shape[-1])
    return FxArray(tr.cast_mantissa(acc, ta), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, bias, accum, result."""
    del inputs
    return result_types(node, ("weight", "bias", "accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per channel, the Dense rule over the window (padding contributes 0)."""
    lo, hi = one(node, inputs)
    kernel = weight(node, "kernel")
    w, bias = held_weights(node, kernel.reshape(-1, kernel.shape[-2]))
    p_lo, p_hi = _windows(node, lo[None])[0], _windows(node, hi[None])[0]  # (*out, taps, c)
    wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
    out_lo = (p_lo * wp + p_hi * wn).sum(axis=-2) + bias
    out_hi = (p_hi * wp + p_lo * wn).sum(axis=-2) + bias
    return accumulated(out_lo, out_hi, int(w.shape[0]), node.precision.accum)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`depthwise`: see `hepinfer.ops.convnd.lowering`."""
    return convnd.lowering(node, inputs, depthwise=True)


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """Each output sums one product per kernel tap (its own channel only)."""
    del input_shapes
    return math.prod(int(d) for d in node.weights["kernel"].shape[:-2])


#: a ZeroPadding read only by this convolution becomes its padding (passes.fold_zero_pad)
FOLDS_ZERO_PAD = True

SPEC = OpSpec(
    Op.DEPTHWISE_CONV2D,
    shape,
    run_float,
    run_fixed,
    ("weight", "bias", "accum", "result"),
    "DepthwiseConv2D",
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A depthwise Conv2D (one input channel per filter): its products, adder trees and weight storage (`costing.conv`)."""
    return costing.conv(node, ctx, depthwise=True)


def hls4ml_auto(
    node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
) -> dict[str, FixedType]:
    """hls4ml's `auto` accumulator and result: its weighted-sum rule."""
    t = rules.weighted_sum(inputs[0], stored["weight"], stored["bias"], accumulated_terms(node, ()))
    return {"accum": t, "result": t}
