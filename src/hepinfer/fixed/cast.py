"""Vectorised, exact casts with Xilinx `ap_fixed` semantics.

Two kinds of cast, both bit-exact with Vitis HLS's `ap_fixed_base.h`:

- float64 -> fixed (`ap_fixed(double)`): the double is taken exactly, then quantised and
  overflowed. For W <= 53 the whole computation stays in float64, where every step used here
  (scaling by a power of two, floor/trunc/rint, differences of nearby values, fmod) is exact;
  wider types go through int64 mantissas.
- fixed -> fixed (`ap_fixed` assignment between types): integer shifts and masks on int64
  mantissas, exact for every shift amount (including shifts of 64 bits or more).

Xilinx treats infinities and NaN as huge values of their sign (the exponent field is all ones):
they saturate, or wrap to zero; so does hepinfer. Subnormal doubles differ from their exact
value in the Xilinx header only far below any supported type's resolution (|F| <= 960).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FixedPointError
from hepinfer.fixed.modes import Overflow, Quant

if TYPE_CHECKING:
    from hepinfer.fixed.types import FixedType

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

#: elements per block of the float kernel: a few blocks of temporaries stay in the L2 cache
CHUNK = 1 << 15
#: what NaN and infinity (and finite values that overflow when scaled) become: a huge value,
#: beyond every supported range and a multiple of 2**64 (so it wraps to zero like in Xilinx's)
_HUGE = 2.0**1000
_U64 = np.uint64


def _quiet() -> np.errstate:
    """Overflow to infinity, NaN and underflow are expected and handled in the float kernels."""
    return np.errstate(over="ignore", invalid="ignore", under="ignore")


def _i64(pattern: int) -> np.int64:
    """The int64 with the given 64-bit two's complement bit pattern."""
    pattern &= (1 << 64) - 1
    return np.int64(pattern - (1 << 64) if pattern >> 63 else pattern)


# ------------------------------------------------------------------------------ float -> fixed
#: the only double below 2**52 in magnitude for which s + 0.5 rounds up to the next integer
#: (1 - 2**-54 is a tie between 1 - 2**-53 and 1.0, and rounds to even: 1.0)
_BELOW_HALF = 0.5 - 2.0**-54


def _quantise_float(s: F64, quant: Quant, tmp: F64, bounded: bool = False) -> None:
    """Round the scaled values `s` (in place) to integers with the given mode, exactly.

    The round-to-nearest modes start from r = rint(s) (ties to even) and e = s - r, both exact
    for every double (|e| <= 1/2; Sterbenz's lemma where r is +-1), then move the exact ties
    e = +-1/2 the way the mode wants. (s - floor(s) would not do: for s = -(1/2 - 2**-54) it
    rounds to exactly 1/2, a false tie.) `bounded` promises |s| < 2**52: then RND is
    floor(s + 0.5), exact for every such double but 1/2 - 2**-54 (which rounds up to 1.0).
    """
    if quant is Quant.TRN:
        np.floor(s, out=s)
        return
    if quant is Quant.TRN_ZERO:
        np.trunc(s, out=s)
        return
    if quant is Quant.RND_CONV:
        np.rint(s, out=s)
        return
    if quant is Quant.RND and bounded:
        below = s == _BELOW_HALF
        np.add(s, 0.5, out=s)
        np.floor(s, out=s)
        if below.any():
            s[below] = 0.0
        return
    r = tmp[: s.size]
    np.rint(s, out=r)
    np.subtract(s, r, out=s)  # s is now e, in [-1/2, 1/2]
    if quant is Quant.RND:  # ties toward +inf
        up, down = s == 0.5, None
    elif quant is Quant.RND_MIN_INF:  # ties toward -inf
        up, down = None, s == -0.5
    elif quant is Quant.RND_ZERO:  # ties toward zero
        up, down = (s == 0.5) & (r < 0), (s == -0.5) & (r > 0)
    else:  # RND_INF: ties away from zero
        up, down = (s == 0.5) & (r >= 0), (s == -0.5) & (r <= 0)
    s[...] = r
    if up is not None:
        np.add(s, up, out=s)
    if down is not None:
        np.subtract(s, down, out=s)


def _wrap_float(q: F64, width: int, signed: bool) -> F64:
    """Two's complement wrap of integer-valued q to `width` <= 53 bits (exact)."""
    r = np.remainder(q, 2.0**width)
    if signed:
        r = np.where(r >= 2.0 ** (width - 1), r - 2.0**width, r)
    return r


def _fixup_tiny_negative(s: F64, x: F64) -> None:
    """With F < 0, x * 2**F may underflow to -0.0 for tiny negative x; TRN must give -1."""
    lost = (s == 0.0) & (x < 0.0)
    if lost.any():
        s[lost] = -0.25


def _float_block(x: F64, s: F64, t: FixedType, tmp: F64, scale_back: bool) -> None:
    """Cast one block of x into s (W <= 53 and no saturation bits): s gets the mantissas
    (or, with `scale_back`, the values) as float64.
    """
    np.multiply(x, 2.0**t.frac, out=s)
    if t.frac < 0 and t.quant is Quant.TRN:
        _fixup_tiny_negative(s, x)
    _quantise_overflow_float(s, t, tmp)
    if math.isnan(float(np.add.reduce(s))):
        # NaN or infinity somewhere (inputs, or a finite input too large to scale): redo the
        # block with those replaced by huge values of their sign, as the Xilinx header does
        np.multiply(x, 2.0**t.frac, out=s)
        bad = ~np.isfinite(s)
        s[bad] = np.copysign(_HUGE, s[bad])
        if t.frac < 0 and t.quant is Quant.TRN:
            _fixup_tiny_negative(s, x)
        _quantise_overflow_float(s, t, tmp)
    if scale_back:
        np.multiply(s, 2.0**-t.frac, out=s)


def _quantise_overflow_float(s: F64, t: FixedType, tmp: F64) -> None:
    lo, hi = float(t.min_mantissa), float(t.max_mantissa)
    over = t.overflow
    if over is Overflow.SAT:
        # quantisation is monotone and fixes integers, so clipping first gives the same result
        np.clip(s, lo, hi, out=s)
    elif over is Overflow.SAT_SYM:
        sym_lo = -hi if t.signed and t.width > 1 else lo
        np.clip(s, sym_lo, hi, out=s)
    # after saturation |s| <= 2**51 when W <= 52
    clipped = over in (Overflow.SAT, Overflow.SAT_SYM)
    _quantise_float(s, t.quant, tmp, bounded=clipped and t.width <= 52)
    if over in (Overflow.WRAP, Overflow.SAT_ZERO) and (s.min() < lo or s.max() > hi):
        out = (s < lo) | (s > hi)
        if over is Overflow.WRAP:
            s[out] = _wrap_float(s[out], t.width, t.signed)
        else:
            s[out] = 0.0
    if t.quant in (Quant.TRN, Quant.TRN_ZERO, Quant.RND_CONV):
        np.add(s, 0.0, out=s)  # -0.0 -> +0.0


def _float_fast_path(t: FixedType) -> bool:
    return t.width <= 53 and t.sat_bits == 0


def _float_kernel(x: F64, t: FixedType) -> F64:
    """The values of x cast to t, block by block (W <= 53, no saturation bits)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape, dtype=np.float64)
    tmp = np.empty(min(CHUNK, flat.size), dtype=np.float64)
    for start in range(0, flat.size, CHUNK):
        stop = min(start + CHUNK, flat.size)
        _float_block(flat[start:stop], out[start:stop], t, tmp, scale_back=True)
    return out.reshape(x.shape)


def _float_kernel_mantissa(x: F64, t: FixedType) -> I64:
    """The mantissas of x cast to t, block by block (W <= 53, no saturation bits)."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape, dtype=np.int64)
    size = min(CHUNK, flat.size)
    block, tmp = np.empty(size, dtype=np.float64), np.empty(size, dtype=np.float64)
    for start in range(0, flat.size, CHUNK):
        stop = min(start + CHUNK, flat.size)
        s = block[: stop - start]
        _float_block(flat[start:stop], s, t, tmp, scale_back=False)
        out[start:stop] = s  # exact: integers below 2**53
    return out.reshape(x.shape)


def _as_float(x: npt.ArrayLike) -> F64:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        msg = f"cannot cast {type(x).__name__} values to fixed point: {exc}"
        raise FixedPointError(msg) from exc


def float_to_fixed(x: npt.ArrayLike, t: FixedType) -> F64:
    """`t.cast(x)`: the float64 values of x cast to t (see `FixedType.cast`)."""
    arr = _as_float(x)
    if _float_fast_path(t):
        with _quiet():
            return _float_kernel(arr, t)
    return mantissa_to_float(float_to_mantissa(arr, t), t.frac)


def float_to_mantissa(x: npt.ArrayLike, t: FixedType) -> I64:
    """`t.to_mantissa(x)`: the int64 mantissas of x cast to t."""
    arr = _as_float(x)
    with _quiet():
        if _float_fast_path(t):
            return _float_kernel_mantissa(arr, t)
        return _float_to_mantissa_wide(arr, t)


def _float_to_mantissa_wide(arr: F64, t: FixedType) -> I64:
    """Float -> mantissa through exact integer-valued floats and int64 (any width, N bits)."""
    flat = arr.reshape(-1)
    s = np.multiply(flat, 2.0**t.frac)
    bad = ~np.isfinite(s)
    if bad.any():
        s[bad] = np.copysign(_HUGE, s[bad])
    if t.frac < 0 and t.quant is Quant.TRN:
        _fixup_tiny_negative(s, flat)
    _quantise_float(s, t.quant, np.empty_like(s))
    # s holds exact integers; flag overflow against the (exactly representable) bounds
    over = s >= 2.0 ** (t.width - t.signed)
    under = s < (-(2.0 ** (t.width - 1)) if t.signed else 0.0)
    # s mod 2**64 as an int64 bit pattern: every step below is exact in float64
    r = np.fmod(s, 2.0**64)
    r = np.where(r >= 2.0**63, r - 2.0**64, r)
    r = np.where(r < -(2.0**63), r + 2.0**64, r)
    wrapped = _wrap_bits(r.astype(np.int64), t.width, t.signed)
    return _apply_overflow(wrapped, over, under, t).reshape(arr.shape)


def mantissa_to_float(m: npt.ArrayLike, frac: int) -> F64:
    """The values m * 2**-frac as float64 (exact for |m| < 2**53)."""
    out: F64 = np.multiply(np.asarray(m), 2.0**-frac, dtype=np.float64)
    return out


# ------------------------------------------------------------------------------ overflow (int)
def _symmetric(t: FixedType) -> bool:
    """AP_SAT_SYM on a signed type of 2 bits or more: the minimum becomes -maximum."""
    return t.overflow is Overflow.SAT_SYM and t.signed and t.width > 1


def _wrap_bits(v: I64, width: int, signed: bool) -> I64:
    """The low `width` bits of v, sign-extended when signed."""
    if width == 64:
        return v
    if signed:
        up = (v.view(np.uint64) << _U64(64 - width)).view(np.int64)
        return up >> np.int64(64 - width)
    return v & np.int64((1 << width) - 1)


def _apply_overflow(wrapped: I64, over: Bool, under: Bool, t: FixedType) -> I64:
    """Apply t's overflow mode: `wrapped` holds the wrapped results, `over`/`under` flag the
    elements whose quantised value is above t's maximum / below its minimum.
    """
    mode = t.overflow
    if mode is Overflow.WRAP and t.sat_bits == 0:
        return wrapped
    out = wrapped.copy()
    if mode is Overflow.SAT or mode is Overflow.SAT_SYM:
        out[over] = t.max_mantissa
        if _symmetric(t):
            out[under] = -t.max_mantissa
            out[out == t.min_mantissa] = -t.max_mantissa  # an exact minimum saturates too
        else:
            out[under] = t.min_mantissa
    elif mode is Overflow.SAT_ZERO:
        out[over | under] = 0
    else:
        # AP_WRAP with N saturation bits: on overflow the N most significant bits saturate.
        # Signed: the sign bit takes the sign of the source and the N-1 bits below it its
        # complement; unsigned: the N top bits become ones (for overflow and underflow alike).
        w, n = t.width, t.sat_bits
        top = _i64(((1 << n) - 1) << (w - n))
        if t.signed:
            rest = _i64(((1 << (n - 1)) - 1) << (w - n))  # bits W-N .. W-2
            sign = _i64(1 << (w - 1))
            out[over] = (out[over] & ~top) | rest
            out[under] = (out[under] & ~top) | sign
            out = _wrap_bits(out, w, True)
        else:
            hit = over | under
            out[hit] = out[hit] | top
    return out


# ------------------------------------------------------------------------------ fixed -> fixed
def _shift_right_quantise(m: I64, sh: int, quant: Quant) -> I64:
    """floor(m / 2**sh) rounded with `quant` (sh >= 1), exact for every int64 m."""
    if sh > 64:
        # |m / 2**sh| < 1/2: only truncation toward minus infinity leaves -1 for negatives
        return m >> np.int64(63) if quant is Quant.TRN else np.zeros_like(m)
    f = m >> np.int64(min(sh, 63))
    if quant is Quant.TRN:
        return f
    if quant is Quant.RND:
        if sh == 1:  # m + 1 could overflow int64: add the half bit instead
            return f + (m & np.int64(1))
        half_up = m >> np.int64(sh - 1)  # floor((floor(m / 2**(sh-1)) + 1) / 2)
        half_up += 1
        half_up >>= 1
        return half_up
    rem = m.view(np.uint64) & _U64((1 << sh) - 1)
    half = _U64(1 << (sh - 1))
    if quant is Quant.TRN_ZERO:
        inc = (rem != 0) & (m < 0)
    else:
        inc = rem > half
        if quant is not Quant.RND_MIN_INF:
            tie = rem == half
            if quant is Quant.RND_ZERO:
                inc |= tie & (m < 0)
            elif quant is Quant.RND_INF:
                inc |= tie & (m >= 0)
            else:  # RND_CONV
                inc |= tie & (f & np.int64(1)).astype(bool)
    out: I64 = f + inc
    return out


def _as_mantissa(m: npt.ArrayLike) -> I64:
    arr = np.asarray(m)
    if arr.dtype.kind not in "iub":
        msg = f"mantissas must be an integer array, got dtype {arr.dtype}"
        raise FixedPointError(msg)
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) >= 1 << 63:
        msg = "mantissas do not fit int64 (uint64 values of 2**63 or more)"
        raise FixedPointError(msg)
    return arr.astype(np.int64, copy=False)


def fixed_to_fixed(m: npt.ArrayLike, src: FixedType, dst: FixedType) -> I64:
    """`dst.cast_mantissa(m, src)`: mantissas of type src cast to dst (Xilinx assignment)."""
    arr = _as_mantissa(m)
    if arr.size <= CHUNK:
        return _fixed_to_fixed_block(arr, src, dst)
    # elementwise: blocks keep the temporaries in cache
    flat = np.ascontiguousarray(arr).reshape(-1)
    out = np.empty(flat.shape, dtype=np.int64)
    for start in range(0, flat.size, CHUNK):
        stop = min(start + CHUNK, flat.size)
        out[start:stop] = _fixed_to_fixed_block(flat[start:stop], src, dst)
    return out.reshape(arr.shape)


def _fixed_to_fixed_block(arr: I64, src: FixedType, dst: FixedType) -> I64:
    sh = src.frac - dst.frac
    lo, hi = dst.min_mantissa, dst.max_mantissa
    safe_lo = lo + 1 if _symmetric(dst) else lo  # with SAT_SYM the minimum itself changes
    if sh >= 0:
        q = arr.copy() if sh == 0 else _shift_right_quantise(arr, sh, dst.quant)
        # the range q can take (rounding adds at most one)
        q_lo = src.min_mantissa >> sh
        q_hi = (src.max_mantissa >> sh) + (sh > 0 and dst.quant is not Quant.TRN)
        if safe_lo <= q_lo and q_hi <= hi:
            return q
        if dst.overflow in (Overflow.SAT, Overflow.SAT_SYM):
            # q is exact here: saturation is a clip (SAT_SYM: the minimum becomes -maximum)
            np.clip(q, safe_lo, hi, out=q)
            return q
        wrapped = _wrap_bits(q, dst.width, dst.signed)
        if dst.overflow is Overflow.WRAP and dst.sat_bits == 0:
            return wrapped
        return _apply_overflow(wrapped, q > hi, q < lo, dst)
    k = -sh
    if safe_lo <= src.min_mantissa << k and src.max_mantissa << k <= hi:
        return arr << np.int64(k)
    if k >= 64:
        wrapped = np.zeros_like(arr)
    else:
        wrapped = _wrap_bits((arr.view(np.uint64) << _U64(k)).view(np.int64), dst.width, dst.signed)
    if dst.overflow is Overflow.WRAP and dst.sat_bits == 0:
        return wrapped
    # m * 2**k > hi  <=>  m > floor(hi / 2**k);  m * 2**k < lo  <=>  m < ceil(lo / 2**k)
    return _apply_overflow(wrapped, arr > (hi >> k), arr < -((-lo) >> k), dst)
