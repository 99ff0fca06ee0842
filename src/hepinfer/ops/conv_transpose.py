"""ConvTranspose (Keras Conv1DTranspose / Conv2DTranspose, ONNX ConvTranspose, PyTorch
nn.ConvTranspose1d/2d), 1D and 2D, channels-last. hls4ml 1.3 converts none of them; hepinfer
defines the layer as the convolution it equals, so every target computes exactly that.

Attributes (per spatial axis): `strides`, `pads` (begin..., end...: removed from the full
output of `(in - 1) * stride + k` positions, ONNX's meaning; a negative value adds positions)
and `output_padding` (added at the end). Output size `(in - 1) * s + k - begin - end + op`.
Dilation 1 and one group (frontends refuse others by name).

Definition (the exactness argument). The direct form is
`y[o] = bias + sum over (i, t) with o = i * s + t - begin of x[i] * K[t]`. Put the input on a
zero grid: `z[begin' + i * s] = x[i]` with `begin' = k - 1 - begin`, zero elsewhere, over
`out + k - 1` positions (an input position outside the grid is one the output never reads).
Then `y[o] = bias + sum_t z[o + t] * K'[t]`, a stride-1 'valid' convolution of `z` with
the kernel flipped along every spatial axis and its channel axes swapped, `K'` (the weight
`kernel` of this node, `(*k, c_in, c_out)` like a Conv's). The fixed-point arithmetic is
hls4ml's Conv (`hepinfer.ops.convnd`): each product assigned to `accum_t`, the accumulator
starting from `(accum_t) bias`, the sum assigned to `result_t`, the terms in the window's
order (kernel rows, columns, channels). The products of the grid's zeros are exact zeros in
every quantisation mode, and adding 0 leaves a wrapping or saturating accumulator unchanged
(its value is already in range), so the zeros change no bit: each output is the direct form's
sum, the non-zero terms in the order of the flipped window. With a wrapping accumulator the
order is irrelevant (addition modulo 2**W); a saturating one saturates per addition in that
order, which the emulator, the C++ kernel and the RTL share.

The C++ kernel (`hepinfer_conv_transpose.h`), the RTL and the value bounds run this zero-grid
convolution as written; the emulator runs the same sums phase by phase (`phases`: per output
residue modulo the stride only the taps that reach input pixels, in the window's order), the
same non-zero terms in the same order, so the same bits without the grid's zero products.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.knobs import IOType
from hepinfer.netlist import Netlist, Val
from hepinfer.ops import costing, parallelization
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types, weight
from hepinfer.ops.bounds import Bounds, Interval, one, weighted_sum
from hepinfer.ops.conv import ints, patches
from hepinfer.ops.convnd import rtl_windows
from hepinfer.ops.cost import ConvCost, LayerCost, NodeContext
from hepinfer.ops.dense import accumulate, held_weights
from hepinfer.ops.dense import lowering as dense_lowering
from hepinfer.ops.lowering import Lowering, fixed, inputs_count


def geometry(
    node: Node, in_spatial: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(strides, the zero grid's leading pad `k - 1 - begin` per axis, output spatial shape);
    GraphError for settings the layer cannot have.
    """
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    k = tuple(int(d) for d in kernel.shape[:rank])
    strides = ints(node, "strides", rank, 1)
    pads = ints(node, "pads", 2 * rank, 0)
    extra = ints(node, "output_padding", rank, 0)
    if any(d != 1 for d in ints(node, "dilations", rank, 1)):
        msg = (
            f"ConvTranspose {node.name!r}: dilations {ints(node, 'dilations', rank, 1)} are not "
            "supported; supported: dilation 1 on every axis"
        )
        raise GraphError(msg)
    if any(s < 1 for s in strides) or any(p < 0 for p in extra):
        msg = (
            f"ConvTranspose {node.name!r}: strides {strides} must be >= 1 and output_padding "
            f"{extra} >= 0"
        )
        raise GraphError(msg)
    out = []
    for i in range(rank):
        size = (int(in_spatial[i]) - 1) * strides[i] + k[i] - pads[i] - pads[rank + i] + extra[i]
        if size <= 0:
            msg = (
                f"ConvTranspose {node.name!r}: input {in_spatial[i]}, stride {strides[i]}, kernel "
                f"{k[i]}, pads ({pads[i]}, {pads[rank + i]}) and output_padding {extra[i]} "
                f"leave {size} output positions on axis {i}; reduce the pads"
            )
            raise GraphError(msg)
        out.append(size)
    begin = tuple(k[i] - 1 - pads[i] for i in range(rank))
    return strides, begin, tuple(out)


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    in_shape = inputs[0].shape
    if rank not in (1, 2) or len(in_shape) != rank + 1 or kernel.shape[rank] != in_shape[-1]:
        msg = (
            f"ConvTranspose {node.name!r}: kernel {kernel.shape} (the equivalent convolution's "
            f"(*k, c_in, c_out), 1 or 2 spatial axes) does not fit the channels-last input "
            f"{tuple(in_shape)}"
        )
        raise GraphError(msg)
    _, _, out = geometry(node, in_shape[:rank])
    return (*out, int(kernel.shape[-1]))


def grid(node: Node, x: np.ndarray) -> np.ndarray:
    """`x` (batch, *spatial, c) on the zero grid `z` (batch, *(out + k - 1), c)."""
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    strides, begin, out = geometry(node, x.shape[1 : rank + 1])
    z: np.ndarray = x
    for a in range(rank):
        length = out[a] + int(kernel.shape[a]) - 1
        pos = begin[a] + strides[a] * np.arange(x.shape[a + 1])
        keep = np.flatnonzero((pos >= 0) & (pos < length))
        shape = list(z.shape)
        shape[a + 1] = length
        spread = np.zeros(shape, dtype=z.dtype)
        index: list[Any] = [slice(None)] * z.ndim
        index[a + 1] = pos[keep]
        spread[tuple(index)] = np.take(z, keep, axis=a + 1)
        z = spread
    return z


def _cols(node: Node, x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """The windows of the zero grid, one row per output position (window order: kernel
    rows, columns, channels), and the output spatial shape.
    """
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    z = grid(node, x)
    one_ = (1,) * rank
    p = patches(z, kernel.shape[:rank], one_, one_, (0,) * (2 * rank))
    out = tuple(int(d) for d in p.shape[1 : rank + 1])
    return p.reshape(-1, int(np.prod(kernel.shape[:-1]))), out


def phases(node: Node, in_spatial: Sequence[int]) -> list[tuple[tuple[slice, ...], list[Any]]]:
    """The emulator's fast form: the outputs split by their position modulo the stride
    (one phase per residue on every axis). Per axis and phase `r`, only the taps `t` with
    `(r + t - begin') % s == 0` read input pixels (`begin'` the grid's leading pad), and tap
    `t_j` reads input `m + d + j` for output `r + s * m`: a stride-1 convolution of the
    input with those taps, in the window's order. Each phase: (its output slices, per axis
    (taps, first input index `d`, output count, input length)).
    """
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    strides, begin, out = geometry(node, in_spatial)
    per_axis = []
    for a in range(rank):
        k, st = int(kernel.shape[a]), strides[a]
        axis = []
        for r in range(min(st, out[a])):
            taps = [t for t in range(k) if (r + t - begin[a]) % st == 0]
            d = (r + taps[0] - begin[a]) // st if taps else 0
            count = len(range(r, out[a], st))
            axis.append((slice(r, None, st), [taps, d, count, int(in_spatial[a])]))
        per_axis.append(axis)
    return [
        (tuple(c[0] for c in combo), [c[1] for c in combo])
        for combo in itertools.product(*per_axis)
    ]


def _phase_cols(x: np.ndarray, axes: list[Any]) -> np.ndarray:
    """The windows of one phase: (batch * outputs, taps * channels), window order (one
    gather from the flattened input with a zero appended for the positions outside it).
    """
    rank = len(axes)
    c = int(x.shape[-1])
    spatial = x.shape[1 : rank + 1]
    flat = np.concatenate([x.reshape(x.shape[0], -1), np.zeros((x.shape[0], 1), x.dtype)], axis=1)
    index = np.zeros((1,) * (2 * rank), dtype=np.int64)
    inside = np.ones((1,) * (2 * rank), dtype=bool)
    for a, (taps, d, count, n) in enumerate(axes):
        pos = (np.arange(count)[:, None] + d + np.arange(len(taps))[None, :]).astype(np.int64)
        shape = [1] * (2 * rank)
        shape[a], shape[rank + a] = count, len(taps)
        pos = pos.reshape(shape)
        inside = inside & (pos >= 0) & (pos < n)
        index = index * int(spatial[a]) + pos
    # (outputs..., taps..., channels): the input's flat index, or the appended zero
    full = np.where(inside[..., None], index[..., None] * c + np.arange(c), flat.shape[1] - 1)
    rows = int(np.prod(index.shape[:rank]))
    cols = np.take(flat, full.reshape(rows, -1), axis=1)  # (batch, outputs, taps * c)
    return cols.reshape(-1, cols.shape[-1])


def _sub_kernel(kernel: np.ndarray, axes: list[Any]) -> np.ndarray:
    """The phase's taps of the (flipped) kernel, (taps * c_in, c_out) in window order."""
    sub = kernel[np.ix_(*(a[0] for a in axes))]
    return sub.reshape(-1, kernel.shape[-1])


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    kernel = weight(node, "kernel")
    bias = weight(node, "bias")
    rank = kernel.ndim - 2
    _, _, out = geometry(node, x.shape[1 : rank + 1])
    y: FloatArray = np.empty((x.shape[0], *out, kernel.shape[-1]))
    for where, axes in phases(node, x.shape[1 : rank + 1]):
        counts = tuple(a[2] for a in axes)
        if any(not a[0] for a in axes):  # no tap reaches these outputs: the bias
            y[(slice(None), *where)] = bias
            continue
        cols = _phase_cols(x, axes)
        part = cols @ _sub_kernel(kernel, axes) + bias
        y[(slice(None), *where)] = part.reshape(x.shape[0], *counts, kernel.shape[-1])
    return y


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    """Phase by phase (`phases`): each phase's non-zero terms in the window's order, so the
    same bits as the zero-grid convolution (`grid`, which the HLS kernel and the RTL run).
    """
    x = xs[0]
    tw, tb, ta, tr = (need(node, v) for v in ("weight", "bias", "accum", "result"))
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    _, _, out = geometry(node, x.m.shape[1 : rank + 1])
    bias = ta.cast_mantissa(tb.to_mantissa(weight(node, "bias")), tb)
    y = np.empty((x.m.shape[0], *out, kernel.shape[-1]), dtype=np.int64)
    for where, axes in phases(node, x.m.shape[1 : rank + 1]):
        counts = tuple(a[2] for a in axes)
        if any(not a[0] for a in axes):
            y[(slice(None), *where)] = tr.cast_mantissa(bias, ta)
            continue
        cols = _phase_cols(x.m, axes)
        wm = tw.to_mantissa(_sub_kernel(kernel, axes))
        acc = accumulate(np.ascontiguousarray(cols), wm, x.t, tw, ta, bias)
        res = tr.cast_mantissa(acc, ta)
        y[(slice(None), *where)] = res.reshape(x.m.shape[0], *counts, kernel.shape[-1])
    return FxArray(y, tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, bias, accum, result."""
    del inputs
    return result_types(node, ("weight", "bias", "accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The Dense rule over each window of the zero grid (its zeros are exactly 0)."""
    lo, hi = one(node, inputs)
    kernel = weight(node, "kernel")
    cols_lo, out = _cols(node, lo[None])
    cols_hi, _ = _cols(node, hi[None])
    w, bias = held_weights(node, kernel.reshape(-1, kernel.shape[-1]))
    lo_, hi_ = weighted_sum(cols_lo, cols_hi, w, node.precision.accum, bias)
    return lo_.reshape(*out, kernel.shape[-1]), hi_.reshape(*out, kernel.shape[-1])


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """The non-zero terms of one output at most: `ceil(k / stride)` taps per axis (the
    others read the grid's zeros) times the input channels.
    """
    del input_shapes
    kernel = node.weights["kernel"]
    rank = kernel.ndim - 2
    strides = ints(node, "strides", rank, 1)
    taps = math.prod(-(-int(kernel.shape[i]) // strides[i]) for i in range(rank))
    return taps * int(kernel.shape[rank])


#: a BatchNormalization reading only this node folds into its kernel and bias (output
#: channels last, as a Conv's; `hepinfer.passes.fold_batchnorm`)
FOLDS_BATCHNORM = True

SPEC = OpSpec(
    Op.CONV_TRANSPOSE,
    shape,
    run_float,
    run_fixed,
    ("weight", "bias", "accum", "result"),
    "ConvTranspose",
)

#: hls4ml's `auto` accumulator and result: its weighted-sum rule over `accumulated_terms`
hls4ml_auto = rules.weighted_sum_hook(accumulated_terms)


def _hw(node: Node, in_shape: Sequence[int]) -> dict[str, int]:
    """The kernel's geometry, height first (1D as height 1)."""
    kernel = weight(node, "kernel")
    rank = kernel.ndim - 2
    strides, begin, out = geometry(node, in_shape[:rank])
    if rank == 1:
        strides, begin, out = (1, *strides), (0, *begin), (1, *out)
    in_hw = tuple(in_shape[:-1]) if rank == 2 else (1, in_shape[0])
    k_hw = tuple(kernel.shape[:2]) if rank == 2 else (1, kernel.shape[0])
    return {
        "in_height": int(in_hw[0]),
        "in_width": int(in_hw[1]),
        "n_chan": int(in_shape[-1]),
        "out_height": out[0],
        "out_width": out[1],
        "n_filt": int(kernel.shape[-1]),
        "filt_height": int(k_hw[0]),
        "filt_width": int(k_hw[1]),
        "stride_height": strides[0],
        "stride_width": strides[1],
        "grid_top": begin[0],
        "grid_left": begin[1],
    }


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`conv_transpose` (`hepinfer_conv_transpose.h`): for every output position the window
    of the zero grid and the Dense kernel of the flipped kernel, as `conv` (io_stream: the
    io_parallel kernel on the unpacked tensor).
    """
    inputs_count(node, inputs, 1, "HLS")
    kernel = weight(node, "kernel")
    geo = _hw(node, inputs[0].shape)
    part = parallelization.partitions(node, geo["out_height"] * geo["out_width"])
    geo |= {"n_partitions": part.n_partitions, "n_pixels": part.n_pixels}
    flat = kernel.reshape(-1, kernel.shape[-1])
    base = {"n_in": str(flat.shape[0]), "n_out": str(flat.shape[1])}
    dense = dense_lowering(node, base, flat)
    consts = {**dense.consts, **{k: str(int(v)) for k, v in geo.items()}}
    return Lowering("conv_transpose", consts, dense.types, dense.arrays, pixel_input=True)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """What the kernel computes: a stride-1 'valid' convolution of the zero grid (the
    Dense logic of every window; io_stream runs the same io_parallel kernel).
    """
    kernel = node.weights["kernel"]
    geo = _hw(node, ctx.shape)
    fields = costing.matmul_fields(node, ctx) | {"io_type": IOType.PARALLEL}
    return [
        ConvCost(
            in_width=geo["out_width"] + geo["filt_width"] - 1,
            in_height=geo["out_height"] + geo["filt_height"] - 1,
            n_chan=geo["n_chan"],
            n_filt=geo["n_filt"],
            filt_width=geo["filt_width"],
            filt_height=geo["filt_height"],
            weights=kernel,
            kernel="hepinfer",
            **fields,
        )
    ]


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Fully unrolled: every output position is the Dense logic (`dense.rtl_matmul`) on its
    window of the zero grid (the grid's zeros are the constant 0), outputs position-major.
    """
    index = np.arange(1, len(xs[0]) + 1).reshape(1, *inputs[0].shape)
    cols, _ = _cols(node, index)
    return rtl_windows(node, net, xs[0], fixed(node, inputs[0]), cols)
