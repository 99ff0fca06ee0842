"""Convolution kernels shared by Conv1D and Conv2D (channels-last, im2col + Dense).

The fixed-point arithmetic is hls4ml's `conv_{1,2}d_latency_cl`: zero padding, then for every
output pixel exactly the Dense kernel (products assigned to `accum_t`, bias first, result
cast), so `hepinfer.ops.dense.accumulate` is reused on the im2col patches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.netlist import Netlist, Val
from hepinfer.ops import parallelization, runtime
from hepinfer.ops.base import FloatArray, n_inputs, need, weight
from hepinfer.ops.bounds import Interval, Pair, weighted_sum
from hepinfer.ops.conv import conv_shape, geometry, line_buffer, patches
from hepinfer.ops.dense import accumulate, held_weights, rtl_matmul
from hepinfer.ops.dense import lowering as dense_lowering
from hepinfer.ops.lowering import Lowering, fixed, inputs_count


def shape(node: Node, inputs: Sequence[TensorType], rank: int) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    return conv_shape(node, inputs[0].shape, rank)


def _cols(node: Node, x: np.ndarray, rank: int) -> tuple[np.ndarray, tuple[int, ...]]:
    kernel = weight(node, "kernel")
    strides, dilations, pads, out = geometry(node, x.shape[1 : rank + 1], kernel.shape[:rank])
    p = patches(x, kernel.shape[:rank], strides, dilations, pads)
    return p.reshape(-1, int(np.prod(kernel.shape[:-1]))), out


def run_float(node: Node, xs: Sequence[FloatArray], rank: int) -> FloatArray:
    """im2col and one product, over chunks of the batch (`runtime.rows_per_chunk`: the
    patches stay in cache and the product in one BLAS thread) spread over the runtime's
    threads.
    """
    kernel = weight(node, "kernel")
    out = geometry(node, xs[0].shape[1 : rank + 1], kernel.shape[:rank])[3]
    pixels = int(np.prod(out, dtype=np.int64))

    def chunk(x: FloatArray) -> FloatArray:
        cols, _ = _cols(node, x, rank)
        y = cols @ kernel.reshape(-1, kernel.shape[-1]) + weight(node, "bias")
        result: FloatArray = y.reshape(x.shape[0], *out, kernel.shape[-1])
        return result

    return runtime.by_rows(xs[0], runtime.rows_per_chunk(pixels * kernel.size), chunk)


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


def interval(node: Node, x: Pair, rank: int) -> Interval:
    """The Dense rule (`hepinfer.ops.dense.interval`) on the im2col patches of the bounds."""
    kernel = weight(node, "kernel")
    cols_lo, out = _cols(node, x[0][None], rank)
    cols_hi, _ = _cols(node, x[1][None], rank)
    w, bias = held_weights(node, kernel.reshape(-1, kernel.shape[-1]))
    lo, hi = weighted_sum(cols_lo, cols_hi, w, node.precision.accum, bias)
    return lo.reshape(*out, kernel.shape[-1]), hi.reshape(*out, kernel.shape[-1])


def lowering(node: Node, inputs: Sequence[TensorType], depthwise: bool = False) -> Lowering:
    """The `conv` / `depthwise` kernel call: the Dense constants of the flattened kernel and
    the (height-first, 1D as height 1) window geometry, line buffers included; a `conv` also
    gets hls4ml's `n_partitions` and `n_pixels` (`hepinfer.ops.parallelization`), and so
    does a `depthwise` one.
    """
    inputs_count(node, inputs, 1, "HLS")
    shape = inputs[0].shape
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    strides, dilations, pads, out = geometry(node, shape[:rank], kernel.shape[:rank])
    if rank == 1:  # a Conv2D of height 1
        strides, dilations, out = (1, *strides), (1, *dilations), (1, *out)
        pads = (0, pads[0], 0, pads[1])
    in_hw = shape[:-1] if rank == 2 else (1, shape[0])
    k_hw = kernel.shape[:2] if rank == 2 else (1, kernel.shape[0])
    geo = {
        "in_height": in_hw[0],
        "in_width": in_hw[1],
        "n_chan": shape[-1],
        "out_height": out[0],
        "out_width": out[1],
        "n_filt": kernel.shape[-1],
        "filt_height": k_hw[0],
        "filt_width": k_hw[1],
        "stride_height": strides[0],
        "stride_width": strides[1],
        "dilation_height": dilations[0],
        "dilation_width": dilations[1],
        "pad_top": pads[0],
        "pad_left": pads[1],
        **line_buffer(in_hw, out, k_hw, strides, dilations, pads),
    }
    # hls4ml's ParallelizationFactor: n_partitions pipelined partitions of n_pixels
    part = parallelization.partitions(node, out[0] * out[1])
    if depthwise:  # kernel (kh, kw, c, 1): one filter per channel
        geo["n_filt"] = shape[-1]
        flat = kernel.reshape(-1, shape[-1])
    else:
        flat = kernel.reshape(-1, kernel.shape[-1])
    geo |= {"n_partitions": part.n_partitions, "n_pixels": part.n_pixels}
    base = {"n_in": str(flat.shape[0]), "n_out": str(flat.shape[1])}
    dense = dense_lowering(node, base, flat, reuse_rom=not depthwise)  # depthwise: own loop
    consts = {**dense.consts, **{k: str(int(v)) for k, v in geo.items()}}
    kind = "depthwise" if depthwise else "conv"
    return Lowering(kind, consts, dense.types, dense.arrays, pixel_input=True)


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType], rank: int
) -> list[Val]:
    """Fully unrolled: every output pixel is the Dense logic (`dense.rtl_matmul`) on its
    window of input values (padding is the constant 0), outputs pixel-major, filters last.
    """
    kernel = weight(node, "kernel")
    spatial = inputs[0].shape[:rank]
    strides, dilations, pads, _ = geometry(node, spatial, kernel.shape[:rank])
    index = np.arange(1, len(xs[0]) + 1).reshape(1, *spatial, kernel.shape[-2])
    cols = patches(index, kernel.shape[:rank], strides, dilations, pads).reshape(
        -1, int(np.prod(kernel.shape[:-1]))
    )
    return rtl_windows(node, net, xs[0], fixed(node, inputs[0]), cols)


def rtl_windows(
    node: Node, net: Netlist, x: Sequence[Val], tx: FixedType, cols: npt.NDArray[np.int64]
) -> list[Val]:
    """The Dense logic (`dense.rtl_matmul`) of the node's kernel and bias on each window:
    row `r` of `cols` holds the window's input positions plus one (0: the constant 0).
    """
    tw, tb, ta, tr = (need(node, v) for v in ("weight", "bias", "accum", "result"))
    kernel = weight(node, "kernel")
    wm = tw.to_mantissa(kernel.reshape(-1, kernel.shape[-1]))
    bias = ta.cast_mantissa(tb.to_mantissa(weight(node, "bias")), tb)
    zero = net.const(0, tx.frac)
    outs: list[Val] = []
    for row in cols:
        window = [x[i - 1] if i else zero for i in row]
        outs.extend(rtl_matmul(net, window, wm, bias, (tw, ta, tr)))
    return outs
