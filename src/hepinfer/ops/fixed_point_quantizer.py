"""FixedPointQuantizer: a cast of every element to its own fixed-point type (HGQ2's quantisers).

HGQ2 quantises each element of a tensor with its own type: `k` (1: signed), `i` integer bits
without the sign and `f` fractional bits, one triple per element (weights `k`, `i`, `f` of the
tensor's shape), one rounding mode (`round`: TRN or RND; HGQ2's stochastic `S_RND` is RND at
inference) and one overflow mode (`overflow`: WRAP, SAT, SAT_SYM). Element j becomes
`ap_fixed<k+i+f, k+i, AP_<round>, AP_<overflow>>(x[j])` (`ap_ufixed` when k = 0), or 0 where
`k + i + f <= 0` (a pruned element), exactly hls4ml 1.3's `FixedPointQuantizer` mask function.

One corner parts from HGQ2's float rule: a 1-bit signed SAT_SYM element (`k = 1`,
`i + f = 0`) is `ap_fixed<1, I, AP_RND, AP_SAT_SYM>`, which holds -2**(I-1) in Xilinx's headers
(and so in hls4ml's firmware), where HGQ2 clips to [0, 0]; the fixed kernel follows the
firmware, the float kernel HGQ2.

The output tensor's type holds every element's value exactly: the widest integer and
fractional parts over the elements (signed when any element is). When every element has the
same type, the output type is that type (with its modes) and the HLS kernel is the `linear`
cast to it; otherwise the kernel `fixed_quantizer` casts each element by its parameters
(`kernel_params`), in integer arithmetic on the mantissas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray, align
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, same_shape, weight
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import ActivationCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes

ROUND_MODES = {"TRN": Quant.TRN, "RND": Quant.RND, "S_RND": Quant.RND}
OVERFLOW_MODES = {"WRAP": Overflow.WRAP, "SAT": Overflow.SAT, "SAT_SYM": Overflow.SAT_SYM}


def modes(node: Node) -> tuple[Quant, Overflow]:
    """The (rounding, overflow) modes of the node's casts."""
    rnd, sat = str(node.attrs.get("round", "TRN")), str(node.attrs.get("overflow", "WRAP"))
    if rnd not in ROUND_MODES or sat not in OVERFLOW_MODES:
        msg = (
            f"FixedPointQuantizer {node.name!r}: rounding {rnd!r} / overflow {sat!r} is not "
            f"supported; use rounding {sorted(ROUND_MODES)} and overflow {sorted(OVERFLOW_MODES)}"
        )
        raise GraphError(msg)
    return ROUND_MODES[rnd], OVERFLOW_MODES[sat]


def kif(node: Node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-element (k, i, f) as int64 arrays of the tensor's shape, pruned elements all 0."""
    raw = [np.asarray(weight(node, key), dtype=np.float64) for key in ("k", "i", "f")]
    shape = node.out.shape
    try:
        k, i, f = (np.broadcast_to(a, shape).astype(np.int64) for a in raw)
    except ValueError:
        msg = (
            f"FixedPointQuantizer {node.name!r}: k/i/f of shapes "
            f"{[a.shape for a in raw]} do not broadcast to the tensor's shape {shape}"
        )
        raise GraphError(msg) from None
    if np.any((k != 0) & (k != 1)):
        msg = f"FixedPointQuantizer {node.name!r}: k must be 0 or 1, got {np.unique(k).tolist()}"
        raise GraphError(msg)
    live = k + i + f > 0
    return np.where(live, k, 0), np.where(live, i, 0), np.where(live, f, 0)


def element_types(node: Node) -> dict[tuple[int, int, int], FixedType | None]:
    """Each distinct (k, i, f) and its type (None: pruned, the element is 0)."""
    quant, overflow = modes(node)
    k, i, f = kif(node)
    out: dict[tuple[int, int, int], FixedType | None] = {}
    for kk, ii, ff in {
        (int(a), int(b), int(c)) for a, b, c in zip(k.ravel(), i.ravel(), f.ravel(), strict=True)
    }:
        width = kk + ii + ff
        out[(kk, ii, ff)] = (
            FixedType(width, kk + ii, bool(kk), quant, overflow) if width > 0 else None
        )
    return out


def output_type(node: Node) -> FixedType:
    """The type of the output tensor: the one element type, or one that holds them all."""
    k, i, f = kif(node)
    live = k + i + f > 0
    if not live.any():
        return FixedType(1, 1, False)
    kl, il, fl = k[live], i[live], f[live]
    if live.all() and (kl == kl[0]).all() and (il == il[0]).all() and (fl == fl[0]).all():
        quant, overflow = modes(node)
        kk, ii, ff = int(kl[0]), int(il[0]), int(fl[0])
        return FixedType(kk + ii + ff, kk + ii, bool(kk), quant, overflow)
    signed = bool(kl.any())
    frac = int(fl.max())
    integer = int(il.max()) + int(signed)
    width = max(integer + frac, 1)
    return FixedType(width, width - frac, signed)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    """HGQ2's quantiser in float64 (the `quantizers` package's rule): SAT clips, then the
    rounding; WRAP rounds, then wraps; pruned elements are 0.
    """
    quant, overflow = modes(node)
    k, i, f = (a.astype(np.float64) for a in kif(node))
    x = np.asarray(xs[0], dtype=np.float64)
    eps = 2.0**-f
    if overflow is not Overflow.WRAP:
        hi = 2.0**i - eps
        lo = -hi * k if overflow is Overflow.SAT_SYM else -(2.0**i) * k
        x = np.clip(x, lo, hi)
    scaled = np.ldexp(x, f.astype(np.int64))
    r = np.floor(scaled + 0.5) if quant is Quant.RND else np.floor(scaled)
    q = np.ldexp(r, -f.astype(np.int64))
    if overflow is Overflow.WRAP:
        span = 2.0 ** (i + k)
        bias = k * 2.0 ** (i + k - 1)
        q = np.mod(q + bias, span) - bias
    out: FloatArray = np.where(k + i + f > 0, q, 0.0)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    """Every element cast to its own type, then held in the output type (exactly).

    On the mantissas at once, as the HLS kernel computes (`kernel_params`), when they fit in
    int64 on the way; else one `FixedType` cast per distinct element type.
    """
    x = xs[0]
    to, quant, overflow, (drop, width, lo, hi) = _prepared(node, x.t)
    grow = max(int(-drop.min()), 0) + max(int((to.frac - x.t.frac + drop).max()), 0)
    if x.t.width + grow > 60:
        return _run_fixed_by_type(node, x, to)
    m = x.m
    right = np.maximum(drop, 0)
    if quant is Quant.RND:
        half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0)
        q = np.right_shift(m + half, right)
    else:
        q = np.right_shift(m, right)
    q = np.left_shift(q, np.maximum(-drop, 0))
    if overflow is Overflow.WRAP:
        span = np.left_shift(1, width)
        q = np.mod(q - lo, span) + lo
    else:
        q = np.clip(q, lo, hi)
    q = np.where(width > 0, q, 0)
    out = np.left_shift(q, to.frac - x.t.frac + drop)
    return FxArray(out.astype(np.int64), to)


Prepared = tuple[FixedType, Quant, Overflow, tuple[np.ndarray, ...]]
#: id(node) -> (the node, what run_fixed needs for an input type): one computation per node
_PREPARED: dict[tuple[int, FixedType], tuple[Node, Prepared]] = {}


def _prepared(node: Node, tin: FixedType) -> Prepared:
    key = (id(node), tin)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    quant, overflow = modes(node)
    params = kernel_params(node, tin).reshape(*node.out.shape, 4)
    out = (output_type(node), quant, overflow, tuple(params[..., n] for n in range(4)))
    if len(_PREPARED) > 256:
        _PREPARED.clear()
    _PREPARED[key] = (node, out)
    return out


def _run_fixed_by_type(node: Node, x: FxArray, to: FixedType) -> FxArray:
    k, i, f = kif(node)
    out = np.zeros(x.m.shape, dtype=np.int64)
    for (kk, ii, ff), t in element_types(node).items():
        if t is None:
            continue
        where = np.broadcast_to((k == kk) & (i == ii) & (f == ff), x.m.shape)
        cast = t.cast_mantissa(x.m[where], x.t)
        out[where] = align(cast, t.frac, to.frac)
    return FxArray(out, to)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output type (`output_type`); the quantiser has no configured types."""
    n_inputs(node, inputs, 1)
    return output_type(node), node.precision


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The bounds quantised (monotone with saturation); a wrapping element whose bounds leave
    its type's range may take any value of that type.
    """
    lo, hi = one(node, inputs)
    qlo, qhi = run_float(node, [lo]), run_float(node, [hi])
    _, overflow = modes(node)
    if overflow is Overflow.WRAP:
        k, i, f = (a.astype(np.float64) for a in kif(node))
        tmin, tmax = -(2.0**i) * k, 2.0**i - 2.0**-f
        wrapped = (qlo > qhi) | (lo < tmin) | (hi > tmax + 2.0**-f)
        live = k + i + f > 0
        qlo = np.where(wrapped & live, tmin, qlo)
        qhi = np.where(wrapped & live, tmax, qhi)
    return np.minimum(qlo, qhi), np.maximum(qlo, qhi)


#: widest element and input mantissas of the `fixed_quantizer` kernel (31-bit int arithmetic)
KERNEL_BITS = 31
#: the type of the kernel's per-element parameters (integers)
PARAMS_T = FixedType(32, 32)


def kernel_params(node: Node, tin: FixedType) -> np.ndarray:
    """Per element: [bits dropped from the input's fraction, width (0: pruned), lowest and
    highest mantissa of the element type (SAT_SYM: -highest, except 1-bit types)], flattened.
    """
    k, i, f = kif(node)
    width = k + i + f
    _, overflow = modes(node)
    hi = np.where(width > 0, 2.0 ** (i + f) - 1, 0)
    lo = np.where(k == 1, -(2.0 ** (i + f)), 0.0)
    if overflow is Overflow.SAT_SYM:
        lo = np.where((k == 1) & (width > 1), -hi, lo)
    lo = np.where(width > 0, lo, 0)
    table = np.stack([tin.frac - f, width, lo, hi], axis=-1).reshape(-1)
    return table.astype(np.int64)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`linear` (the cast to the output type) for one element type; else `fixed_quantizer`
    with each element's parameters (`kernel_params`) in an integer `weight_t` array.
    """
    inputs_count(node, inputs, 1, "HLS")
    types = element_types(node)
    if len(types) == 1 and None not in types.values():
        return Lowering("linear", sizes(node, inputs), same_width=True)
    tin = inputs[0].fixed
    if tin is None:
        msg = f"FixedPointQuantizer {node.name!r} reads an untyped tensor; configure the graph"
        raise HlsError(msg)
    widths = [t.width for t in types.values() if t is not None]
    tout = output_type(node)
    in_bits = tin.width + int(not tin.signed)
    out_bits = tout.width + int(not tout.signed)
    if max([*widths, in_bits, out_bits]) > KERNEL_BITS:
        msg = (
            f"FixedPointQuantizer {node.name!r}: input {tin}, output {tout} or an element type "
            f"is wider than {KERNEL_BITS} bits, the HLS kernel's integer arithmetic; narrow "
            "the quantisers (or the layer before)"
        )
        raise HlsError(msg)
    quant, overflow = modes(node)
    consts = {
        **sizes(node, inputs),
        "rnd": "1" if quant is Quant.RND else "0",
        "sat": "0" if overflow is Overflow.WRAP else "1",
    }
    params = kernel_params(node, tin)
    arrays = (HlsArray("fq", "weight", PARAMS_T, params),)
    return Lowering("fixed_quantizer", consts, {"weight_t": PARAMS_T}, arrays, same_width=True)


SPEC = OpSpec(Op.FIXED_POINT_QUANTIZER, same_shape, run_float, run_fixed, (), "FixedPointQuantizer")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A cast per element (rounding adders and saturation multiplexers): a linear activation
    into the output type.
    """
    return [
        ActivationCost(
            name=node.name,
            kind="linear",
            n=costing.size(node),
            n_chan=int(node.out.shape[-1]),
            input=ctx.input,
            output=output_type(node),
            io_type=ctx.io_type,
        )
    ]
