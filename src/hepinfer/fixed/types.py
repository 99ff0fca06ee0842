"""`FixedType`: a Xilinx `ap_fixed<W, I, Q, O, N>` type as a frozen, validated value.

A value of type `FixedType(W, I)` is a W-bit integer *mantissa* m scaled by 2**-F, where
F = W - I is the number of fractional bits (F may be negative or larger than W). Signed types
hold m in [-2**(W-1), 2**(W-1) - 1], unsigned ones in [0, 2**W - 1]. Mantissas are numpy
`int64`, so signed types may be up to 64 bits wide and unsigned ones up to 63.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FixedPointError
from hepinfer.fixed.modes import Overflow, Quant

if TYPE_CHECKING:
    from collections.abc import Iterable

#: widest mantissa the vectorised (int64) casts support
MAX_WIDTH = 64
#: fractional bits are limited so that every scaling by 2**F stays an exact float64 operation
MAX_ABS_FRAC = 960


@dataclass(frozen=True, repr=False)
class FixedType:
    """A fixed-point type with Xilinx `ap_fixed` / `ap_ufixed` semantics.

    Args:
        width: W, the total number of bits (1..64 signed, 1..63 unsigned).
        integer: I, the number of integer bits including the sign bit; may be negative or
            larger than `width` (then F = W - I is larger than W or negative).
        signed: `ap_fixed` (True) or `ap_ufixed` (False).
        quant: quantisation mode applied when a value is cast to this type.
        overflow: overflow mode applied when a value is cast to this type.
        sat_bits: N, the number of saturation bits of `AP_WRAP` (0..W); 0 for plain wrap.

    Example:
        >>> t = FixedType.parse("ap_fixed<16,6,AP_RND,AP_SAT>")
        >>> t.cast([3.14159, 100.0]).tolist()
        [3.1416015625, 31.9990234375]
    """

    width: int
    integer: int
    signed: bool = True
    quant: Quant = Quant.TRN
    overflow: Overflow = Overflow.WRAP
    sat_bits: int = 0

    def __post_init__(self) -> None:
        for name in ("width", "integer", "sat_bits"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool):
                msg = f"{name} of a fixed-point type must be an int, got {value!r}"
                raise FixedPointError(msg)
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "signed", bool(self.signed))
        # modes may also be given by name ("RND", "AP_SAT")
        quant: object = self.quant
        if not isinstance(quant, Quant):
            object.__setattr__(self, "quant", Quant.parse(str(quant)))
        overflow: object = self.overflow
        if not isinstance(overflow, Overflow):
            object.__setattr__(self, "overflow", Overflow.parse(str(overflow)))
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        limit = MAX_WIDTH if self.signed else MAX_WIDTH - 1
        if not 1 <= self.width <= limit:
            msg = (
                f"{kind} width W={self.width} is out of range: hepinfer's vectorised casts "
                f"support 1 <= W <= {limit} for {kind} (int64 mantissas); use a narrower type"
            )
            raise FixedPointError(msg)
        if abs(self.frac) > MAX_ABS_FRAC:
            msg = (
                f"{kind}<{self.width},{self.integer}> has F = W - I = {self.frac} fractional "
                f"bits; |F| must be at most {MAX_ABS_FRAC}: choose I closer to W"
            )
            raise FixedPointError(msg)
        if not 0 <= self.sat_bits <= self.width:
            msg = (
                f"saturation bits N={self.sat_bits} of {kind}<{self.width},{self.integer}> "
                f"must be between 0 and W={self.width}"
            )
            raise FixedPointError(msg)
        if self.sat_bits and self.overflow is not Overflow.WRAP:
            msg = (
                f"saturation bits N={self.sat_bits} only apply to AP_WRAP, not to "
                f"{self.overflow.ap_name}: drop N or use AP_WRAP"
            )
            raise FixedPointError(msg)

    # ----------------------------------------------------------------------------- creation
    @classmethod
    def parse(cls, text: str) -> FixedType:
        """Parse `ap_fixed<16,6>`, `fixed<18,8,RND,SAT>`, `ap_ufixed<8,0>`, `ap_int<8>`, ...

        Accepted forms (whitespace anywhere, `ap_` prefix optional, mode names with or without
        `AP_`): `[ap_][u]fixed<W,I[,Q[,O[,N]]]>` and `[ap_][u]int<W>`.
        """
        from hepinfer.fixed.parse import parse_type

        return parse_type(text)

    @classmethod
    def int_type(cls, width: int, *, signed: bool = True) -> FixedType:
        """The integer type `ap_int<width>` (or `ap_uint<width>`)."""
        return cls(width, width, signed)

    @classmethod
    def from_frac(cls, width: int, frac: int, **kwargs: Any) -> FixedType:
        """A type given by its total and fractional bits (I = width - frac)."""
        return cls(width, width - frac, **kwargs)

    def with_(self, **changes: Any) -> FixedType:
        """A copy with some fields changed, e.g. `t.with_(quant=Quant.RND, width=18)`."""
        return dataclasses.replace(self, **changes)

    def with_frac(self, frac: int) -> FixedType:
        """A copy with `frac` fractional bits and the same integer bits (width changes)."""
        return dataclasses.replace(self, width=self.integer + frac)

    # ----------------------------------------------------------------------------- properties
    @property
    def frac(self) -> int:
        """F = W - I, the number of fractional bits (may be negative or larger than W)."""
        return self.width - self.integer

    @property
    def min_mantissa(self) -> int:
        """The smallest mantissa: -2**(W-1) when signed, else 0."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_mantissa(self) -> int:
        """The largest mantissa: 2**(W-1) - 1 when signed, else 2**W - 1."""
        return (1 << (self.width - self.signed)) - 1

    @property
    def min(self) -> float:
        """The smallest representable value (as the nearest float64; exact for W <= 53)."""
        return float(self.min_mantissa) * 2.0**-self.frac

    @property
    def max(self) -> float:
        """The largest representable value (as the nearest float64; exact for W <= 53)."""
        return float(self.max_mantissa) * 2.0**-self.frac

    @property
    def eps(self) -> float:
        """The quantisation step (value of the least significant bit), 2**-F."""
        return 2.0**-self.frac

    @property
    def is_integer(self) -> bool:
        """True for types whose values are integers (F <= 0), such as `ap_int<W>`."""
        return self.frac <= 0

    @property
    def exact_float(self) -> bool:
        """True when every value of the type is exactly representable as a float64."""
        return self.width <= 53

    # ----------------------------------------------------------------------------- text
    def __str__(self) -> str:
        """The canonical C++ spelling, defaults omitted: `ap_fixed<16,6,AP_RND,AP_SAT>`."""
        args = [str(self.width), str(self.integer)]
        if self.sat_bits:
            args += [self.quant.ap_name, self.overflow.ap_name, str(self.sat_bits)]
        elif self.overflow is not Overflow.WRAP:
            args += [self.quant.ap_name, self.overflow.ap_name]
        elif self.quant is not Quant.TRN:
            args.append(self.quant.ap_name)
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{kind}<{','.join(args)}>"

    def __repr__(self) -> str:
        return f"FixedType.parse({str(self)!r})"

    # ----------------------------------------------------------------------------- casts
    def cast(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Quantise and overflow float values exactly as Xilinx's `ap_fixed(double)` does.

        Returns float64 holding the fixed-point values, exact when `exact_float` (W <= 53);
        wider types return the nearest float64 of the exact value (use `to_mantissa` for the
        exact bits). NaN and infinity behave as in the Xilinx header: as huge values of their
        sign (so they saturate, or wrap to 0).
        """
        from hepinfer.fixed.cast import float_to_fixed

        return float_to_fixed(x, self)

    def to_mantissa(self, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Cast float values to this type; return the integer mantissas m (value = m * 2**-F)."""
        from hepinfer.fixed.cast import float_to_mantissa

        return float_to_mantissa(x, self)

    def from_mantissa(self, m: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The float64 values m * 2**-F of mantissas m (exact for |m| < 2**53)."""
        from hepinfer.fixed.cast import mantissa_to_float

        return mantissa_to_float(m, self.frac)

    def cast_mantissa(self, m: npt.ArrayLike, src: FixedType) -> npt.NDArray[np.int64]:
        """Cast mantissas of type `src` to this type, exactly as Xilinx's `ap_fixed` assignment.

        Exact for every pair of supported types (shifts of any size, negative F, ...).
        """
        from hepinfer.fixed.cast import fixed_to_fixed

        return fixed_to_fixed(m, src, self)

    def contains(self, values: Iterable[float]) -> bool:
        """True when every value is exactly representable in this type (no rounding, no overflow)."""
        arr = np.asarray(list(values), dtype=np.float64)
        if not np.isfinite(arr).all():
            return False
        exact = self.with_(quant=Quant.TRN, overflow=Overflow.SAT, sat_bits=0).cast(arr)
        return bool(np.array_equal(exact, arr))
