"""Dense (fully connected) layer: `y = x @ kernel + bias` over the last axis.

Fixed-point arithmetic follows hls4ml's `dense_latency` (nnet_dense_latency.h) exactly:
each product `x * w` is formed at full precision and assigned to `accum_t` (quantisation
and overflow of accum apply per product), the accumulator starts from `(accum_t) bias`, the
products are added in `accum_t`, and the sum is assigned to `result_t`.

Exactness rule for the vectorised int64 kernel:
- if `accum_t` has at least as many fractional bits as the product (no quantisation per
  product) and wraps on overflow, the whole layer is one int64 matrix product, shifted and
  wrapped once: int64 arithmetic wraps modulo 2**64 and `accum_t` (<= 64 bits) keeps only low
  bits, so the result is exact whatever the sizes.
  The matrix product runs in float64 BLAS when `W_x + W_w + log2(n_in)` (magnitude bits)
  stays within 53, where every partial sum is an exact float64 integer.
- otherwise each product is quantised on its own: products are exact in int64 when
  `width(x) + width(w) <= 64` (in int32 when they fit: 16 x 16 bits signed do); the batch is
  processed in cache-sized chunks (spread over threads by the emulator's runtime). With a
  saturating accumulator the sum is formed in the kernel's order (saturating at each step).
  Wider products fall back to Python integers (exact, slow).

Inside the emulator, `accumulate` and `run_fixed` first offer the whole sum to the runtime
(`hepinfer.ops.runtime`: the native C++ kernel where the engine and the types allow it),
which gives the same bits; the emulator runs chains of Dense (+ ReLU / Linear) nodes in one
native call itself (`hepinfer.emulate.fuse`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray, IntArray, product_type, wide_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val, arith, cmvm
from hepinfer.ops import costing, runtime
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types, weight
from hepinfer.ops.bounds import Bounds, Interval, held, one, weighted_sum
from hepinfer.ops.cost import ConvCost, DenseCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes
from hepinfer.ops.reuse import ReuseSchedule

_CHUNK_ELEMENTS = 1 << 21
_CACHE_ELEMENTS = 1 << 17


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    kernel = weight(node, "kernel")
    n_in, n_out = kernel.shape
    if inputs[0].shape[-1] != n_in:
        msg = (
            f"Dense {node.name!r}: input has {inputs[0].shape[-1]} features on its last axis "
            f"but the kernel expects {n_in}"
        )
        raise GraphError(msg)
    return (*inputs[0].shape[:-1], int(n_out))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    kernel = weight(node, "kernel")
    out: FloatArray = xs[0] @ kernel + weight(node, "bias")
    return out


def exact_matmul(xm: IntArray, wm: IntArray, tx: FixedType, tw: FixedType) -> IntArray:
    """`xm @ wm` of mantissas: float64 BLAS when every partial sum is below 2**53 (then exact),
    else int64 (exact modulo 2**64, which is all a wrapping accumulator of <= 64 bits keeps).
    """
    if _magnitude_bits(tx, tw, wm.shape[0]) <= 53:
        exact: IntArray = (xm.astype(np.float64) @ wm.astype(np.float64)).astype(np.int64)
        return exact
    out: IntArray = xm @ wm
    return out


def _magnitude_bits(tx: FixedType, tw: FixedType, n: int) -> int:
    """Bits of the largest |sum of n products| (sign excluded)."""
    return tx.width + tw.width - int(tx.signed) - int(tw.signed) + max(n, 1).bit_length()


def _sum_type(tx: FixedType, tw: FixedType, ta: FixedType, n: int) -> FixedType:
    """A type holding bias + sum of n products at `ta`'s fractional bits (for the final cast:
    when it provably fits `ta`, the cast skips its overflow handling).
    """
    shift = ta.frac - (tx.frac + tw.frac)
    bits = max(_magnitude_bits(tx, tw, n) + shift, ta.width) + 2
    return wide_type(ta.frac) if bits > 64 else FixedType(bits, bits - ta.frac, True)


def accumulate(
    xm: IntArray, wm: IntArray, tx: FixedType, tw: FixedType, ta: FixedType, bias: IntArray
) -> IntArray:
    """Sum of the products cast to `ta`, plus bias (already in `ta`), cast to `ta`."""
    fast = runtime.current().dense(xm, wm, bias, (tx, tw, ta, None))
    if fast is not None:
        return fast
    shift = ta.frac - (tx.frac + tw.frac)
    if shift >= 0 and ta.overflow is Overflow.WRAP:
        bias_bits = int(np.abs(bias).max()).bit_length() if bias.size else 0
        bits = max(_magnitude_bits(tx, tw, wm.shape[0]) + shift, bias_bits) + 1  # |acc| < 2**bits
        if bits <= 53:  # products, shift and bias all exact in float64
            accf = xm.astype(np.float64) @ wm.astype(np.float64)
            if shift:
                accf *= 2.0**shift
            accf += bias
            acc: IntArray = accf.astype(np.int64)
        else:
            acc = exact_matmul(xm, wm, tx, tw)
            acc = acc << shift if shift else acc
            acc += bias
        if ta.signed and bits <= ta.width - 1:
            return acc  # provably inside accum_t: the cast is the identity
        return ta.cast_mantissa(acc, _sum_type(tx, tw, ta, wm.shape[0]))
    if tx.width + tw.width > 64:
        objs = np.asarray(xm, dtype=object)[:, :, None] * np.asarray(wm, dtype=object)[None]
        return _sum_objects(objs, tx.frac + tw.frac, ta, bias)
    pt = product_type(tx, tw)
    if ta.overflow is Overflow.WRAP and ta.quant.name == "TRN":
        total = _truncated_sums(xm, wm, _magnitude_bits(tx, tw, 1) - 1, -shift)
        return ta.cast_mantissa(total + bias, wide_type(ta.frac))
    n_in, n_out = wm.shape
    rows = max(1, _CHUNK_ELEMENTS // max(1, n_in * n_out))
    parts = [
        _sum_products(xm[i : i + rows, :, None] * wm[None], pt, ta, bias)
        for i in range(0, xm.shape[0], rows)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, n_out), dtype=np.int64)


def _truncated_sums(xm: IntArray, wm: IntArray, bits: int, k: int) -> IntArray:
    """`sum_i (x_i * w_ij) >> k` (each product floored on its own; TRN), products of at most
    `bits` magnitude bits, chunked over the batch so each chunk's products stay in cache, int32
    when the products fit; the runtime may spread the chunks over threads (numpy releases the
    GIL in its loops).
    """
    dtype = np.int32 if bits <= 30 else np.int64  # |product| <= 2**bits
    x = xm.astype(dtype)
    w_t = np.ascontiguousarray(wm.T.astype(dtype))
    n_out, n_in = w_t.shape
    out = np.empty((xm.shape[0], n_out), dtype=np.int64)
    rows = max(1, _CACHE_ELEMENTS // max(1, n_in * n_out))

    def chunk(start: int) -> None:
        buf = x[start : start + rows, None, :] * w_t[None]
        np.right_shift(buf, k, out=buf)
        buf.sum(axis=2, dtype=np.int64, out=out[start : start + rows])

    runtime.current().map(chunk, range(0, xm.shape[0], rows))
    return out


def _sum_objects(prod: np.ndarray, pfrac: int, ta: FixedType, bias: IntArray) -> IntArray:
    """Products wider than 64 bits as Python ints: quantise with shifts, exact at any width."""
    if ta.quant.name != "TRN":
        msg = f"products wider than 64 bits support only TRN accumulators, not {ta}"
        raise GraphError(msg)
    shift = pfrac - ta.frac
    q = prod >> shift if shift > 0 else prod << -shift
    total = q.sum(axis=1) + bias.astype(object)
    lo = ta.min_mantissa
    if ta.overflow is Overflow.WRAP:
        out = (total - lo) % (1 << ta.width) + lo
    else:
        out = np.minimum(np.maximum(total, lo), ta.max_mantissa)
    return np.asarray(out, dtype=np.int64)


def _sum_products(prod: IntArray, pt: FixedType, ta: FixedType, bias: IntArray) -> IntArray:
    """prod: (batch, n_in, n_out) exact products of type `pt`."""
    if ta.overflow is Overflow.WRAP:
        if ta.quant.name == "TRN" and pt.frac >= ta.frac:
            q = prod >> (pt.frac - ta.frac)
        else:
            exact = FixedType(64, 64 - ta.frac, True, ta.quant, Overflow.WRAP)
            q = exact.cast_mantissa(prod, pt)
        return ta.cast_mantissa(q.sum(axis=1) + bias, wide_type(ta.frac))
    mult = ta.cast_mantissa(prod, pt)
    acc = np.broadcast_to(bias, (prod.shape[0], prod.shape[2])).astype(np.int64)
    wide = wide_type(ta.frac)
    for i in range(prod.shape[1]):
        acc = ta.cast_mantissa(acc + mult[:, i, :], wide)
    return acc


def mantissas(node: Node) -> tuple[IntArray, IntArray]:
    """The kernel in the weight type and the bias cast to the accumulator type."""
    tw, tb, ta = (need(node, v) for v in ("weight", "bias", "accum"))
    wm = tw.to_mantissa(weight(node, "kernel"))
    return wm, ta.cast_mantissa(tb.to_mantissa(weight(node, "bias")), tb)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, ta, tr = (need(node, v) for v in ("weight", "accum", "result"))
    kernel = weight(node, "kernel")
    wm, bias = mantissas(node)
    lead = x.m.shape[:-1]
    xm = x.m.reshape(-1, kernel.shape[0])
    out = runtime.current().dense(xm, wm, bias, (x.t, tw, ta, tr))  # sums and result cast
    if out is None:
        out = tr.cast_mantissa(accumulate(xm, wm, x.t, tw, ta, bias), ta)
    return FxArray(out.reshape(*lead, kernel.shape[1]), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, bias, accum, result."""
    del inputs
    return result_types(node, ("weight", "bias", "accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per output, products split by the sign of the weights (as `weight_t` holds them), plus
    the bias (as `bias_t` then `accum_t` hold it), summed in `accum_t`.
    """
    lo, hi = one(node, inputs)
    w, bias = held_weights(node, weight(node, "kernel"))
    return weighted_sum(lo, hi, w, node.precision.accum, bias)


def held_weights(node: Node, kernel: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The kernel as `weight_t` holds it and the bias as the accumulator starts from it."""
    p = node.precision
    return held(kernel, p.weight), held(held(weight(node, "bias"), p.bias), p.accum)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`dense`: weights, biases, accumulator type, reuse factor and strategy. On a flat
    input one call; on a (steps, ..., n_in) input (Keras' Dense on the last axis, e.g. a
    TimeDistributed Dense) one call per step (`n_steps`), reading one pixel per io_stream word.
    """
    inputs_count(node, inputs, 1, "HLS")
    kernel = weight(node, "kernel")
    if inputs[0].size == kernel.shape[0]:
        return lowering(node, sizes(node, inputs), kernel)
    if len(inputs[0].shape) < 2 or inputs[0].shape[-1] != kernel.shape[0]:
        msg = (
            f"Dense {node.name!r} on a {inputs[0].shape} tensor: the HLS writer needs a flat "
            f"input or one whose last axis is the kernel's {kernel.shape[0]} inputs"
        )
        raise HlsError(msg)
    per_step = {"n_in": str(kernel.shape[0]), "n_out": str(kernel.shape[1])}
    low = lowering(node, per_step, kernel)
    steps = str(inputs[0].size // kernel.shape[0])
    return replace(low, consts={**low.consts, "n_steps": steps}, pixel_input=True)


def lowering(
    node: Node, base: dict[str, str], kernel: FloatArray, *, reuse_rom: bool = True
) -> Lowering:
    """The `dense` kernel call of `kernel` (n_in, n_out) with the node's bias and types.

    With the Resource strategy and `reuse_rom` (callers whose kernel runs `hepinfer::dense`:
    Dense and Conv), the weights are the ROM of `hepinfer.ops.reuse.ReuseSchedule`, one word
    per reuse iteration, and the config carries the schedule.
    """
    tw, tb, ta = need(node, "weight"), need(node, "bias"), need(node, "accum")
    n_in, n_out = kernel.shape
    reuse = int(node.attrs.get("reuse_factor", 1))
    strategy = str(node.attrs.get("strategy", "Latency")).lower()
    mults = n_in * n_out
    consts = {
        **base,
        "reuse_factor": str(reuse),
        "strategy": "hepinfer::resource" if strategy == "resource" else "hepinfer::latency",
        "multiplier_limit": str(math.ceil(mults / reuse)),
        "n_weights": str(mults),
    }
    arrays = (
        HlsArray("w", "weight", tw, tw.to_mantissa(kernel)),
        HlsArray("b", "bias", tb, tb.to_mantissa(weight(node, "bias"))),
    )
    low = Lowering("dense", consts, {"weight_t": tw, "bias_t": tb, "accum_t": ta}, arrays)
    return _reuse_rom(low, int(n_in), int(n_out)) if strategy == "resource" and reuse_rom else low


def _reuse_rom(low: Lowering, n_in: int, n_out: int) -> Lowering:
    """`low` with its weights laid out as the Resource kernel's ROM and the schedule's
    constants (`hepinfer.ops.reuse`).
    """
    schedule = ReuseSchedule(n_in, n_out, int(low.consts["reuse_factor"]))
    rom = {"constant": "hepinfer::rom_constant", "lutram": "hepinfer::rom_lutram"}
    consts = {
        **low.consts,
        "multiplier_limit": str(schedule.lanes),
        "n_weights": str(schedule.stored),
        "rows": str(schedule.rows),
        "group": str(schedule.group),
        "n_iter": str(schedule.iterations),
        "weight_rom": rom.get(schedule.storage, "hepinfer::rom_bram"),
    }
    w, b = low.arrays
    arrays = (replace(w, mantissas=schedule.layout(w.mantissas.reshape(n_in, n_out))), b)
    return replace(low, consts=consts, arrays=arrays)


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """Each output sums one product per input feature (the `auto` accumulator's size)."""
    del input_shapes
    return int(weight(node, "kernel").shape[0])


#: a BatchNormalization reading only this node folds into its kernel and bias (output
#: channels last; `hepinfer.passes.fold_batchnorm`)
FOLDS_BATCHNORM = True

SPEC = OpSpec(
    op=Op.DENSE,
    shape=shape,
    run_float=run_float,
    run_fixed=run_fixed,
    precisions=("weight", "bias", "accum", "result"),
    hls_name="Dense",
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """The layer's products, adder trees and weight storage.

    A Dense applied to every pixel or time step (input of rank > 1) is costed as a
    convolution with a 1-wide kernel.
    """
    kernel = node.weights["kernel"]
    n_in, n_out = (int(d) for d in kernel.shape)
    pixels = int(np.prod(ctx.shape[:-1], dtype=np.int64))
    fields = costing.matmul_fields(node, ctx)
    if pixels == 1:
        return [DenseCost(n_in=n_in, n_out=n_out, weights=kernel, kernel="hepinfer", **fields)]
    return [
        ConvCost(in_width=pixels, n_chan=n_in, n_filt=n_out, filt_width=1, weights=kernel, **fields)
    ]


#: hls4ml's `auto` accumulator and result: its weighted-sum rule over `accumulated_terms`
hls4ml_auto = rules.weighted_sum_hook(accumulated_terms)


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The arithmetic of `run_fixed` as logic (`rtl_matmul`)."""
    del inputs
    tw, ta, tr = (need(node, v) for v in ("weight", "accum", "result"))
    wm, bias = mantissas(node)
    return rtl_matmul(net, xs[0], wm, bias, (tw, ta, tr))


def rtl_matmul(
    net: Netlist,
    x: Sequence[Val],
    wm: IntArray,
    bias: IntArray,
    types: tuple[FixedType, FixedType, FixedType],
) -> list[Val]:
    """`x @ wm + bias` (mantissas; bias already in `accum_t`) cast to `result_t`.

    Where the sum is exact (`_shared_sums`), the layer is one constant-matrix multiplier
    sharing subexpressions across its outputs (`hepinfer.netlist.cmvm`). Otherwise constant
    products (shift-add or DSP, `Netlist.rule`), per-product casts to `accum_t` where they
    change bits, an adder tree per output from the bias: a wrapping accumulator sums exactly
    and wraps once (the same bits as wrapping at each addition); a saturating one adds in the
    kernel's order, saturating at each step.
    """
    tw, ta, tr = types
    n_in, n_out = wm.shape
    shared = _shared_sums(net, x, wm, bias, types) if net.rule.share else None
    if shared is not None:
        return shared
    outs = []
    for j in range(n_out):
        products = [arith.cmul(net, x[i], int(wm[i, j]), tw.frac) for i in range(n_in) if wm[i, j]]
        start = net.const(int(bias[j]), ta.frac)
        if ta.overflow is Overflow.WRAP:
            terms = [arith.quantise(net, p, ta.frac, ta.quant) for p in products]
            # the sum wraps to accum_t: every partial sum modulo 2**width (the same bits)
            wrap = ta.width if ta.signed and ta.sat_bits == 0 else None
            acc = arith.overflow(net, net.total([start, *terms], "acc", wrap=wrap), ta)
        else:
            acc = start
            for p in products:
                acc = arith.cast(net, net.add(acc, arith.cast(net, p, ta), "acc"), ta)
        outs.append(arith.cast(net, acc, tr))
    return outs


@functools.lru_cache(maxsize=16)
def _decompose(
    w: tuple[tuple[int, ...], ...], depth: int, ranges: tuple[tuple[int, int], ...]
) -> cmvm.Decomposition:
    """The shared form of `w` (cached: a convolution decomposes its kernel once)."""
    return cmvm.decompose(w, depth, ranges)


def _shared_sums(
    net: Netlist,
    x: Sequence[Val],
    wm: IntArray,
    bias: IntArray,
    types: tuple[FixedType, FixedType, FixedType],
) -> list[Val] | None:
    """`bias + x @ wm` in `accum_t` through one shared constant-matrix multiplier, cast to
    `result_t`, or None where the accumulation is not exact: products need no quantisation in
    `accum_t`, and the accumulator wraps (the sum wraps once: the same bits) or provably never
    saturates (no product and no partial sum in any order leaves `accum_t`).

    Products for which `Netlist.rule` picks a DSP stay DSP multipliers, added in the same
    delay-aware trees; constant inputs (padding) fold into the bias. Where the sum fits
    `accum_t` and `result_t` rounds with TRN or RND, the bias and the rounding's half are one
    constant added before the truncation (one adder instead of two).
    """
    tw, ta, tr = types
    live = [i for i, v in enumerate(x) if v.const is None]
    if not live:
        return None
    frac = max(x[i].frac for i in live)
    pfrac = frac + tw.frac
    if ta.frac < pfrac:
        return None
    up = ta.frac - pfrac
    n_in, n_out = wm.shape
    # every weight scaled to the common input scaling 2**-frac
    w = [[int(wm[i, j]) << (frac - x[i].frac) for j in range(n_out)] for i in range(n_in)]
    start = [int(b) for b in bias]
    for i in range(n_in):
        c = x[i].const
        if c is not None:
            for j in range(n_out):
                start[j] += (c * w[i][j]) << up
                w[i][j] = 0
    if not (ta.overflow is Overflow.WRAP and ta.sat_bits == 0):
        low = ta.min_mantissa + 1 if arith.symmetric(ta) else ta.min_mantissa
        for j in range(n_out):
            prods = [sorted((x[i].lo * w[i][j] << up, x[i].hi * w[i][j] << up)) for i in live]
            if any(lo < low or hi > ta.max_mantissa for lo, hi in prods):
                return None
            if start[j] + sum(min(lo, 0) for lo, _ in prods) < low:
                return None
            if start[j] + sum(max(hi, 0) for _, hi in prods) > ta.max_mantissa:
                return None
    extra: list[list[tuple[Val, dict[int, int]]]] = [[] for _ in range(n_out)]
    for i in live:
        for j in range(n_out):
            if w[i][j] and net.rule.use_dsp(x[i].width, w[i][j]):
                xi = Val(x[i].name, x[i].lo, x[i].hi, frac, x[i].stage, x[i].delay)
                extra[j].append((arith.cmul(net, xi, w[i][j], tw.frac), {i: w[i][j]}))
                w[i][j] = 0
    ranges = tuple((v.lo, v.hi) for v in x)
    dec = _decompose(tuple(tuple(row) for row in w), net.rule.share_depth, ranges)
    sums = cmvm.build(net, x, dec, pfrac, extra, "cm")
    low = ta.min_mantissa + 1 if arith.symmetric(ta) else ta.min_mantissa
    sh = ta.frac - tr.frac
    outs = []
    for j, got in enumerate(sums):
        if got is None:
            outs.append(arith.cast(net, arith.overflow(net, net.const(start[j], ta.frac), ta), tr))
            continue
        val, sign, _ = got
        val = net.rescale(val, ta.frac)
        ends = (start[j] + sign * val.lo, start[j] + sign * val.hi)
        if (
            sh > 0
            and tr.quant in (Quant.TRN, Quant.RND)
            and low <= min(ends) <= max(ends) <= ta.max_mantissa
        ):
            # RND: floor((acc + half) / 2**sh), the half folded into the bias
            half = 1 << (sh - 1) if tr.quant is Quant.RND else 0
            acc = net.add(net.const(start[j] + half, ta.frac), val, "acc", subtract=sign < 0)
            outs.append(arith.cast(net, acc, replace(tr, quant=Quant.TRN)))
            continue
        acc = net.add(net.const(start[j], ta.frac), val, "acc", subtract=sign < 0)
        outs.append(arith.cast(net, arith.overflow(net, acc, ta), tr))
    return outs
