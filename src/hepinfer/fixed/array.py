"""Fixed-point arrays, the value type of the emulator: int64 mantissas plus their `FixedType`.

A value is `m * 2**-t.frac`. Arithmetic between mantissas is exact in int64 as long as the
bit counts allow (each kernel documents its rule); the only lossy step is `cast`, which
applies the target type's quantisation and overflow modes exactly like `ap_fixed`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hepinfer.fixed.types import FixedType

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class FxArray:
    """A batch of fixed-point values of one type."""

    m: IntArray
    t: FixedType

    @classmethod
    def from_float(cls, x: npt.ArrayLike, t: FixedType) -> FxArray:
        """Quantise floats into `t` (its quantisation and overflow modes apply)."""
        return cls(t.to_mantissa(np.asarray(x, dtype=np.float64)), t)

    def to_float(self) -> FloatArray:
        """The exact values as float64 (exact for widths up to 53 bits)."""
        return np.asarray(self.t.from_mantissa(self.m), dtype=np.float64)

    def cast(self, t: FixedType) -> FxArray:
        """Assign to a variable of type `t` (the only lossy operation)."""
        if t == self.t:
            return self
        return FxArray(t.cast_mantissa(self.m, self.t), t)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the mantissa array (batch first)."""
        return tuple(self.m.shape)


def sum_type(t: FixedType, frac: int, extra_int_bits: int = 0) -> FixedType:
    """A signed type holding `t`'s values with `frac` fractional bits and more integer bits."""
    integer = t.integer + extra_int_bits + (0 if t.signed else 1)
    return FixedType(width=integer + frac, integer=integer, signed=True)


def product_type(a: FixedType, b: FixedType) -> FixedType:
    """The exact type of `a * b` (what `ap_fixed` multiplication returns)."""
    signed = a.signed or b.signed
    return FixedType(width=a.width + b.width, integer=a.integer + b.integer, signed=signed)


@functools.lru_cache(maxsize=256)
def wide_type(frac: int) -> FixedType:
    """A 64-bit signed type with `frac` fractional bits: the type of an int64 intermediate."""
    return FixedType(width=64, integer=64 - frac, signed=True)


def align(m: IntArray, frac_from: int, frac_to: int) -> IntArray:
    """Exact change of fractional bits upward (left shift); frac_to must be >= frac_from."""
    if frac_to < frac_from:
        msg = f"align would drop bits ({frac_from} -> {frac_to} fractional bits); use cast"
        raise ValueError(msg)
    return m << (frac_to - frac_from) if frac_to > frac_from else m
