"""Pooling kernels shared by max/average pooling (1D/2D) and global pooling.

hls4ml's `pooling{1,2}d_cl`: max pads with the type's most negative value; average sums in
`accum_t` (padding contributes nothing and, as in TensorFlow, is not counted unless
`count_pad`), then divides by the count with ap_fixed division (truncation toward zero at
`accum_t`'s fractional bits); the pooled value is returned as `accum_t` and assigned to
`result_t`. Attributes: `pool` (window), `strides`, `pads` (begin..., end...).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, IntArray, wide_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.ops.base import FloatArray, n_inputs, need
from hepinfer.ops.bounds import Interval, Pair, cast
from hepinfer.ops.conv import geometry, ints, line_buffer, patches
from hepinfer.ops.lowering import Lowering, fixed, inputs_count, need_exact


def window(node: Node, rank: int) -> tuple[int, ...]:
    return ints(node, "pool", rank, 2)


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    in_shape = inputs[0].shape
    rank = len(in_shape) - 1
    if rank not in (1, 2):
        msg = f"{node.op.value} {node.name!r}: input {in_shape} is not (w, c) or (h, w, c)"
        raise GraphError(msg)
    _, _, _, out = geometry(node, in_shape[:rank], window(node, rank))
    return (*out, in_shape[-1])


def _windows(node: Node, x: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    rank = x.ndim - 2
    k = window(node, rank)
    strides, _, pads, _ = geometry(node, x.shape[1 : rank + 1], k)
    p = patches(x, k, strides, (1,) * rank, pads, fill)
    ones = np.ones((1, *x.shape[1:-1], 1))
    count = patches(ones, k, strides, (1,) * rank, pads, 0)
    red = tuple(range(1 + rank, 1 + 2 * rank))
    return p.reshape(*p.shape[: 1 + rank], -1, p.shape[-1]), count.sum(axis=red)


def max_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    p, _ = _windows(node, xs[0], -np.inf)
    out: FloatArray = p.max(axis=-2)
    return out


def avg_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    p, count = _windows(node, xs[0], 0.0)
    n = p.shape[-2] if node.attrs.get("count_pad", False) else count
    out: FloatArray = p.sum(axis=-2) / n
    return out


def max_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    p, _ = _windows(node, x.m, x.t.min_mantissa)
    return _finish(node, FxArray(p.max(axis=-2), x.t))


def avg_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    ta = need(node, "accum")
    p, count = _windows(node, ta.cast_mantissa(x.m, x.t), 0)
    total = ta.cast_mantissa(p.sum(axis=-2), wide_type(ta.frac))
    n = p.shape[-2] if node.attrs.get("count_pad", False) else count.astype(np.int64)
    return FxArray(
        need(node, "result").cast_mantissa(_div_trunc(total, n), ta), need(node, "result")
    )


def _div_trunc(m: IntArray, n: IntArray | int) -> IntArray:
    q = np.abs(m) // n
    out: IntArray = np.where(m < 0, -q, q).astype(np.int64)
    return out


def _finish(node: Node, value: FxArray) -> FxArray:
    ta = node.precision.accum
    if ta is not None:
        value = value.cast(ta)
    return value.cast(need(node, "result"))


def global_shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    return (inputs[0].shape[-1],)


def global_max_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    x = xs[0]
    out: FloatArray = x.reshape(x.shape[0], -1, x.shape[-1]).max(axis=1)
    return out


def global_avg_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    x = xs[0]
    out: FloatArray = x.reshape(x.shape[0], -1, x.shape[-1]).mean(axis=1)
    return out


def global_max_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    return _finish(node, FxArray(x.m.reshape(x.m.shape[0], -1, x.m.shape[-1]).max(axis=1), x.t))


def global_avg_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    ta = need(node, "accum")
    m = ta.cast_mantissa(x.m, x.t).reshape(x.m.shape[0], -1, x.m.shape[-1])
    total = ta.cast_mantissa(m.sum(axis=1), wide_type(ta.frac))
    tr = need(node, "result")
    return FxArray(tr.cast_mantissa(_div_trunc(total, m.shape[1]), ta), tr)


def max_interval(node: Node, x: Pair) -> Interval:
    """Max pooling: the max of each window's bounds (then `accum_t`, when set)."""
    bounds = []
    for v in x:
        p, _ = _windows(node, v[None], -np.inf)
        m = p.max(axis=-2)[0]
        bounds.append(np.where(np.isfinite(m), m, float(x[0].min())))
    return cast(node.precision.accum, (bounds[0], bounds[1]))


def avg_interval(node: Node, x: Pair) -> Interval:
    """Average pooling: the window sums of the bounds (in `accum_t`) over the count, the
    division truncating toward zero by less than one step of `accum_t`.
    """
    ta = node.precision.accum
    x = cast(ta, x)
    sums = []
    for v in x:
        p, count = _windows(node, v[None], 0.0)
        n = p.shape[-2] if node.attrs.get("count_pad", False) else count
        sums.append((p.sum(axis=-2) / n)[0])
    return _divided(ta, (sums[0], sums[1]))


def _divided(ta: FixedType | None, iv: Interval) -> Interval:
    step = 0.0 if ta is None else 2.0**-ta.frac
    return cast(ta, (iv[0] - step, iv[1] + step))


def global_max_interval(node: Node, x: Pair) -> Interval:
    """Global max pooling: the max of the bounds over all positions, per channel."""
    lo, hi = (v.reshape(-1, v.shape[-1]).max(axis=0) for v in x)
    return cast(node.precision.accum, (lo, hi))


def global_avg_interval(node: Node, x: Pair) -> Interval:
    """Global average pooling: the mean of the bounds over all positions, per channel."""
    ta = node.precision.accum
    lo, hi = (v.reshape(-1, v.shape[-1]).mean(axis=0) for v in cast(ta, x))
    return _divided(ta, (lo, hi))


def lowering(node: Node, inputs: Sequence[TensorType], is_max: bool, is_global: bool) -> Lowering:
    """The `pool` kernel call: max / average, 1D (as height 1) and 2D, local or global."""
    inputs_count(node, inputs, 1, "HLS")
    shape = inputs[0].shape
    rank = len(shape) - 1
    if rank not in (1, 2):
        msg = f"{node.op.value} {node.name!r} on a {shape} tensor: expected (w, c) or (h, w, c)"
        raise HlsError(msg)
    spatial = shape[:-1]
    if is_global:
        k, strides, pads, out = spatial, (1,) * rank, (0,) * (2 * rank), (1,) * rank
    else:
        k = tuple(int(v) for v in window(node, rank))
        strides, _, pads, out = geometry(node, spatial, k)
    if rank == 1:
        spatial, k, strides, out = (1, *spatial), (1, *k), (1, *strides), (1, *out)
        pads = (0, pads[0], 0, pads[1])
    x = fixed(node, inputs[0])
    need_exact(x, f"the input of {node.name!r}")
    accum = node.precision.accum
    if not is_max:
        accum = need(node, "accum")
        need_exact(accum, f"the accumulator of {node.name!r}")
    ta = accum or x
    consts = {
        "n_in": str(inputs[0].size),
        "n_out": str(node.out.size),
        "in_height": str(spatial[0]),
        "in_width": str(spatial[1]),
        "n_chan": str(shape[-1]),
        "out_height": str(out[0]),
        "out_width": str(out[1]),
        "pool_height": str(k[0]),
        "pool_width": str(k[1]),
        "stride_height": str(strides[0]),
        "stride_width": str(strides[1]),
        "pad_top": str(pads[0]),
        "pad_left": str(pads[1]),
        **{key: str(v) for key, v in line_buffer(spatial, out, k, strides, (1, 1), pads).items()},
        "reuse_factor": str(node.attrs.get("reuse_factor", 1)),
        "op": "hepinfer::pool_max" if is_max else "hepinfer::pool_average",
        "has_accum": "true" if accum is not None else "false",
        "count_pad": "true" if node.attrs.get("count_pad", False) else "false",
        "count_bits": str((k[0] * k[1]).bit_length()),
    }
    # the exact sum of a window's accum_t values: accum_t with the bits its count needs
    grow = (k[0] * k[1] - 1).bit_length()
    types = {"accum_t": ta, "wide_t": FixedType(ta.width + grow, ta.integer + grow, ta.signed)}
    return Lowering("pool", consts, types, pixel_input=True)


def max_rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Max pooling as comparison trees over each window (padding: the input type's minimum),
    then the accumulator and result casts of `_finish`.
    """
    shape = inputs[0].shape
    t = inputs[0].fixed
    if t is None:
        msg = f"{node.name!r}: the input has no fixed-point type"
        raise GraphError(msg)
    rank = len(shape) - 1
    index = np.arange(1, len(xs[0]) + 1).reshape(1, *shape)
    k = window(node, rank)
    strides, _, pads, _ = geometry(node, shape[:rank], k)
    cols = patches(index, k, strides, (1,) * rank, pads, 0)
    cols = cols.reshape(-1, int(np.prod(k)), shape[-1])
    return _max_windows(node, net, xs[0], cols, t)


def global_max_rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Global max pooling: one comparison tree per channel over every position."""
    shape = inputs[0].shape
    t = inputs[0].fixed
    if t is None:
        msg = f"{node.name!r}: the input has no fixed-point type"
        raise GraphError(msg)
    cols = np.arange(1, len(xs[0]) + 1).reshape(1, -1, shape[-1])
    return _max_windows(node, net, xs[0], cols, t)


def _max_windows(
    node: Node, net: Netlist, x: Sequence[Val], cols: np.ndarray, t: FixedType
) -> list[Val]:
    pad = net.const(t.min_mantissa, t.frac)
    outs = []
    for win in cols:  # (positions, channels) of 1-based indices, 0 = padding
        for c in range(win.shape[-1]):
            vals = [x[i - 1] if i else pad for i in win[:, c]]
            best = net.tree(vals, lambda a, b: net.select(a, b, larger=True))
            if node.precision.accum is not None:
                best = arith.cast(net, best, node.precision.accum)
            outs.append(arith.cast(net, best, need(node, "result")))
    return outs


def avg_rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Average pooling as `avg_fixed`: each value cast to `accum_t`, an adder tree per window
    (padding adds nothing), the sum cast to `accum_t`, the division by the window's count
    truncating toward zero (`divide_trunc`), the cast to `result_t`.
    """
    shape = inputs[0].shape
    rank = len(shape) - 1
    index = np.arange(1, len(xs[0]) + 1).reshape(1, *shape)
    k = window(node, rank)
    strides, _, pads, _ = geometry(node, shape[:rank], k)
    cols = patches(index, k, strides, (1,) * rank, pads, 0)
    cols = cols.reshape(-1, int(np.prod(k)), shape[-1])
    return _avg_windows(node, net, xs[0], cols, bool(node.attrs.get("count_pad", False)))


def global_avg_rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Global average pooling: one adder tree and one division per channel."""
    cols = np.arange(1, len(xs[0]) + 1).reshape(1, -1, inputs[0].shape[-1])
    return _avg_windows(node, net, xs[0], cols, count_pad=True)


def _avg_windows(
    node: Node, net: Netlist, x: Sequence[Val], cols: np.ndarray, count_pad: bool
) -> list[Val]:
    ta, tr = need(node, "accum"), need(node, "result")
    cast = [arith.cast(net, v, ta) for v in x]
    outs = []
    for win in cols:  # (positions, channels) of 1-based indices, 0 = padding
        for c in range(win.shape[-1]):
            vals = [cast[i - 1] for i in win[:, c] if i]
            total = arith.cast(net, net.total(vals, "pool"), ta)
            count = win.shape[0] if count_pad else len(vals)
            outs.append(arith.cast(net, divide_trunc(net, total, count), tr))
    return outs


def divide_trunc(net: Netlist, v: Val, n: int) -> Val:
    """`v / n` truncated toward zero at `v`'s scaling (ap_fixed division by a constant), as a
    product by `c = ceil(2**k / n)` and a shift by `k` (exact for every `|v| < 2**(k -
    ceil(log2 n))`: the product's error `|v| (c n - 2**k) / (n 2**k)` stays below `1 / n`).
    """
    if n == 1:
        return v
    big = max(abs(v.lo), abs(v.hi)).bit_length() + (n - 1).bit_length()
    c = -(-(1 << big) // n)
    q = arith.trunc_scale(net, v, c, big)
    return Val(q.name, q.lo, q.hi, v.frac, q.stage, q.delay, q.const)
