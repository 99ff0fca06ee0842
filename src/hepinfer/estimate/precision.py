"""Operand precisions as the estimator sees them: total width, integer bits, signedness.

The estimator needs only the shape of a fixed-point type, not its rounding or overflow
modes, so it accepts any of:

- a `Precision` (this module),
- a plain ``int`` (a signed type of that many bits, all of them integer bits),
- a ``(width, integer)`` or ``(width, integer, signed)`` tuple,
- any object with ``width``, ``integer`` and ``signed`` attributes (for example
  ``hepinfer.fixed.FixedType`` or hls4ml's ``FixedPrecisionType``),
- a type string ``"ap_fixed<16,6>"``, ``"ap_ufixed<8,0>"``, ``"ap_int<8>"``, ``"ap_uint<4>"``
  or ``"fixed<16,6,RND,SAT>"`` (only width, integer bits and sign are read).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from hepinfer.errors import EstimateError

__all__ = ["Precision", "PrecisionLike", "as_precision", "quantize_weights"]


@runtime_checkable
class _FixedLike(Protocol):
    width: int
    integer: int
    signed: bool


def _check_width(width: object) -> None:
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 1024:
        msg = f"precision width {width!r} is invalid; give an int between 1 and 1024"
        raise EstimateError(msg)


def _check_int(integer: object) -> None:
    if not isinstance(integer, int) or isinstance(integer, bool):
        msg = f"precision integer bits {integer!r} must be an int"
        raise EstimateError(msg)


@dataclass(frozen=True)
class Precision:
    """Width, integer bits (including the sign bit when signed) and signedness of a type."""

    width: int
    integer: int
    signed: bool = True

    def __post_init__(self) -> None:
        _check_width(self.width)
        _check_int(self.integer)

    @property
    def fractional(self) -> int:
        """Number of fractional bits (may be negative or exceed the width, as in ap_fixed)."""
        return self.width - self.integer

    def __str__(self) -> str:
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{kind}<{self.width},{self.integer}>"


PrecisionLike = Precision | int | tuple[int, int] | tuple[int, int, bool] | str | _FixedLike

_TYPE_RE = re.compile(
    r"^\s*(?P<kind>ap_fixed|ap_ufixed|fixed|ufixed|ap_int|ap_uint|int|uint)\s*"
    r"<\s*(?P<w>\d+)\s*(?:,\s*(?P<i>-?\d+)\s*)?(?:,[^>]*)?>\s*$"
)


def _parse(text: str) -> Precision:
    match = _TYPE_RE.match(text)
    if match is None:
        msg = (
            f"precision {text!r} is not a type string the estimator understands; "
            "use e.g. 'ap_fixed<16,6>', 'ap_ufixed<8,0>', 'ap_int<8>' or 'fixed<16,6,RND,SAT>'"
        )
        raise EstimateError(msg)
    kind = match["kind"]
    width = int(match["w"])
    signed = not kind.startswith(("ap_u", "u"))
    if kind in {"ap_int", "ap_uint", "int", "uint"}:
        return Precision(width, width, signed)
    if match["i"] is None:
        msg = f"precision {text!r} needs integer bits: write e.g. '{kind}<{width},{width // 2}>'"
        raise EstimateError(msg)
    return Precision(width, int(match["i"]), signed)


def as_precision(value: PrecisionLike | object) -> Precision:
    """Convert any accepted precision description to a `Precision`."""
    if isinstance(value, Precision):
        return value
    if isinstance(value, bool):
        msg = f"precision {value!r} is a bool; give a width, a (width, integer) tuple or a type"
        raise EstimateError(msg)
    if isinstance(value, int):
        return Precision(value, value, True)
    if isinstance(value, str):
        return _parse(value)
    if isinstance(value, tuple):
        if len(value) == 2:
            return Precision(int(value[0]), int(value[1]), True)
        if len(value) == 3:
            return Precision(int(value[0]), int(value[1]), bool(value[2]))
        msg = f"precision tuple {value!r} must be (width, integer) or (width, integer, signed)"
        raise EstimateError(msg)
    if isinstance(value, _FixedLike):
        return Precision(int(value.width), int(value.integer), bool(value.signed))
    msg = (
        f"precision {value!r} of type {type(value).__name__} is not understood; give a "
        "Precision, an int width, a (width, integer[, signed]) tuple, a type string, or an "
        "object with width/integer/signed attributes"
    )
    raise EstimateError(msg)


def quantize_weights(weights: npt.ArrayLike, precision: Precision) -> npt.NDArray[np.int64]:
    """Integer mantissas of ``weights`` in ``precision`` (truncation, saturation at the ends).

    This is what the generated firmware stores: ``round-toward-minus-infinity`` as in
    ``ap_fixed``'s default TRN mode. Saturation (instead of wrapping) is used so that an
    out-of-range weight counts as a wide constant rather than a random one.
    """
    values = np.asarray(weights, dtype=np.float64)
    scaled = np.floor(values * math.ldexp(1.0, precision.fractional))
    if precision.signed:
        lo, hi = -(1 << (precision.width - 1)), (1 << (precision.width - 1)) - 1
    else:
        lo, hi = 0, (1 << precision.width) - 1
    return np.clip(scaled, lo, hi).astype(np.int64)
