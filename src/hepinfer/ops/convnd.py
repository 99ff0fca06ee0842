"""Convolution kernels shared by Conv1D and Conv2D (channels-last, im2col + Dense).

The fixed-point arithmetic is hls4ml's `conv_{1,2}d_latency_cl`: zero padding, then for every
output pixel exactly the Dense kernel (products assigned to `accum_t`, bias first, result
cast), so `hepinfer.ops.dense.accumulate` is reused on the im2col patches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.ir.graph import Node, TensorType
from hepinfer.ops.base import FloatArray, n_inputs, need, weight
from hepinfer.ops.bounds import Interval, weighted_sum
from hepinfer.ops.conv import conv_shape, geometry, patches
from hepinfer.ops.dense import accumulate, held_weights
from hepinfer.ops.fxarray import FxArray


def shape(node: Node, inputs: Sequence[TensorType], rank: int) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    return conv_shape(node, inputs[0].shape, rank)


def _cols(node: Node, x: np.ndarray, rank: int) -> tuple[np.ndarray, tuple[int, ...]]:
    kernel = weight(node, "kernel")
    strides, dilations, pads, out = geometry(node, x.shape[1 : rank + 1], kernel.shape[:rank])
    p = patches(x, kernel.shape[:rank], strides, dilations, pads)
    return p.reshape(-1, int(np.prod(kernel.shape[:-1]))), out


def run_float(node: Node, xs: Sequence[FloatArray], rank: int) -> FloatArray:
    kernel = weight(node, "kernel")
    cols, out = _cols(node, xs[0], rank)
    y = cols @ kernel.reshape(-1, kernel.shape[-1]) + weight(node, "bias")
    result: FloatArray = y.reshape(xs[0].shape[0], *out, kernel.shape[-1])
    return result


def run_fixed(node: Node, xs: Sequence[FxArray], rank: int) -> FxArray:
    x = xs[0]
    tw, tb, ta, tr = (need(node, v) for v in ("weight", "bias", "accum", "result"))
    kernel = weight(node, "kernel")
    cols, out = _cols(node, x.m, rank)
    wm = tw.to_mantissa(kernel.reshape(-1, kernel.shape[-1]))
    bias = ta.cast_mantissa(tb.to_mantissa(weight(node, "bias")), tb)
    acc = accumulate(cols, wm, x.t, tw, ta, bias)
    res = tr.cast_mantissa(acc, ta).reshape(x.m.shape[0], *out, kernel.shape[-1])
    return FxArray(res, tr)


def interval(node: Node, x: Interval, rank: int) -> Interval:
    """The Dense rule (`hepinfer.ops.dense.interval`) on the im2col patches of the bounds."""
    kernel = weight(node, "kernel")
    cols_lo, out = _cols(node, x[0][None], rank)
    cols_hi, _ = _cols(node, x[1][None], rank)
    w, bias = held_weights(node, kernel.reshape(-1, kernel.shape[-1]))
    lo, hi = weighted_sum(cols_lo, cols_hi, w, node.precision.accum, bias)
    return lo.reshape(*out, kernel.shape[-1]), hi.reshape(*out, kernel.shape[-1])
