"""`fit_type`: the narrowest fixed-point type that holds an array without overflow.

Three ways to fix the resolution (at most one of `frac` and `width` may be given):

- `frac=F`: the resolution is 2**-F; the result has the fewest integer bits such that every
  value, once quantised with `quant`, fits.
- `width=W`: the total width is W; the result has the most fractional bits (finest
  resolution) such that every quantised value still fits in W bits.
- neither: the lossless type, whose values include every element exactly (fewest fractional
  bits that represent all elements, then the fewest integer bits). Useful for weights that are
  already quantised.

Signedness: `signed=None` picks unsigned when no quantised value is negative.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FixedPointError
from hepinfer.fixed.cast import _quantise_float
from hepinfer.fixed.modes import Overflow, Quant
from hepinfer.fixed.types import MAX_ABS_FRAC, MAX_WIDTH, FixedType


def _finite(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.size and not np.isfinite(arr).all():
        msg = "fit_type needs finite values; the array holds NaN or infinity"
        raise FixedPointError(msg)
    return arr


def _quantised_range(arr: npt.NDArray[np.float64], frac: int, quant: Quant) -> tuple[int, int]:
    """Min and max of the elements quantised to resolution 2**-frac (exact Python ints)."""
    if arr.size == 0:
        return 0, 0
    lo, hi = float(arr.min()), float(arr.max())
    ends = np.array([lo, hi]) * 2.0**frac
    if not np.isfinite(ends).all() or np.abs(ends).max() >= 2.0**80:
        msg = f"values up to {max(abs(lo), abs(hi))!r} need far more than 64 bits with frac={frac}"
        raise FixedPointError(msg)
    _quantise_float(ends, quant, np.empty(2))  # quantisation is monotone: the ends suffice
    return int(ends[0]), int(ends[1])


def _bits_needed(q_lo: int, q_hi: int, signed: bool) -> int:
    positive = q_hi.bit_length() if q_hi > 0 else 0
    if signed:
        return max(positive, (-q_lo - 1).bit_length() if q_lo < 0 else 0) + 1
    return max(positive, 1)


def _exact_frac(arr: npt.NDArray[np.float64]) -> int:
    """The fewest fractional bits representing every element exactly (may be negative)."""
    nonzero = arr[arr != 0.0]
    if nonzero.size == 0:
        return 0
    mant, exp = np.frexp(nonzero)  # x = mant * 2**exp, 0.5 <= |mant| < 1
    m53 = np.abs(np.ldexp(mant, 53)).astype(np.int64)  # exact 53-bit integer mantissas
    lowest = m53 & -m53  # lowest set bit
    trailing = np.frexp(lowest.astype(np.float64))[1] - 1
    return int((53 - exp - trailing).max())


def fit_type(
    x: npt.ArrayLike,
    *,
    signed: bool | None = None,
    frac: int | None = None,
    width: int | None = None,
    quant: Quant = Quant.TRN,
    overflow: Overflow = Overflow.WRAP,
) -> FixedType:
    """The narrowest `FixedType` holding every element of x without overflow.

    Args:
        x: the values (any shape; must be finite).
        signed: force signed/unsigned; None picks unsigned when no quantised value is < 0.
        frac: fix the number of fractional bits (see the module docstring).
        width: fix the total width instead, maximising the fractional bits.
        quant: the quantisation mode of the result (also used to quantise x while fitting).
        overflow: the overflow mode of the result.

    Raises:
        FixedPointError: when both `frac` and `width` are given, when the values are not
            finite, or when no supported type (W <= 64) can hold them.

    Example:
        >>> str(fit_type([0.5, -3.25], frac=4))
        'ap_fixed<7,3>'
    """
    if frac is not None and width is not None:
        msg = f"give fit_type at most one of frac (={frac}) and width (={width}), not both"
        raise FixedPointError(msg)
    arr = _finite(x)
    if width is not None:
        return _fit_width(arr, width, signed, quant, overflow)
    exact = frac is None
    if frac is None:
        frac = _exact_frac(arr)
    q_lo, q_hi = _quantised_range(arr, frac, quant)
    is_signed = q_lo < 0 if signed is None else signed
    if q_lo < 0 and not is_signed:
        msg = f"unsigned type asked for, but the values go down to {float(arr.min())!r}"
        raise FixedPointError(msg)
    bits = _bits_needed(q_lo, q_hi, is_signed)
    limit = MAX_WIDTH if is_signed else MAX_WIDTH - 1
    if bits > limit:
        why = "an exact (lossless) type" if exact else f"frac={frac}"
        msg = (
            f"the values (from {float(arr.min())!r} to {float(arr.max())!r}) need {bits} bits "
            f"with {why}, more than the supported {limit}: pass a smaller frac or a width"
        )
        raise FixedPointError(msg)
    return FixedType(bits, bits - frac, is_signed, quant, overflow)


def _fit_width(
    arr: npt.NDArray[np.float64],
    width: int,
    signed: bool | None,
    quant: Quant,
    overflow: Overflow,
) -> FixedType:
    if arr.size == 0 or not np.any(arr):
        is_signed = True if signed is None else signed
        return FixedType(width, 1 if is_signed else 0, is_signed, quant, overflow)
    magnitude = float(np.abs(arr).max())
    top = int(np.frexp(magnitude)[1])  # 2**(top-1) <= magnitude < 2**top
    # the finest resolution first; rounding up can need one more bit, so step down until it fits
    for frac in range(min(width - top + 1, MAX_ABS_FRAC), -MAX_ABS_FRAC - 1, -1):
        q_lo, q_hi = _quantised_range(arr, frac, quant)
        is_signed = q_lo < 0 if signed is None else signed
        if q_lo < 0 and not is_signed:
            msg = f"unsigned type asked for, but the values go down to {float(arr.min())!r}"
            raise FixedPointError(msg)
        if _bits_needed(q_lo, q_hi, is_signed) <= width:
            return FixedType(width, width - frac, is_signed, quant, overflow)
    msg = f"no fixed-point type of width {width} holds values up to {magnitude!r}"
    raise FixedPointError(msg)
