"""Result types of exact fixed-point arithmetic, as Xilinx's `ap_fixed` defines them.

In C++ `a * b`, `a + b` and `a - b` on `ap_fixed` values never round or overflow: the result
type is wide enough (`ap_fixed_base::RType`). These functions give that type; the result's
mantissa is computed from the operands' mantissas with plain integer arithmetic (products:
`ma * mb`; sums: both aligned to the finer resolution, then added). Rounding and overflow
happen only when the result is assigned to a declared type (`FixedType.cast_mantissa`).
Result types use the default modes (AP_TRN, AP_WRAP), as in C++.
"""

from __future__ import annotations

from hepinfer.errors import FixedPointError
from hepinfer.fixed.types import MAX_WIDTH, FixedType


def _make(
    width: int, integer: int, signed: bool, what: str, a: FixedType, b: FixedType
) -> FixedType:
    limit = MAX_WIDTH if signed else MAX_WIDTH - 1
    if width > limit:
        msg = (
            f"the exact {what} of {a} and {b} needs {width} bits, more than the {limit} that "
            "int64 mantissas hold: cast the operands to narrower types first"
        )
        raise FixedPointError(msg)
    return FixedType(width, integer, signed)


def mul_type(a: FixedType, b: FixedType) -> FixedType:
    """The exact type of `a * b`: W = Wa + Wb, I = Ia + Ib, signed if either is."""
    return _make(a.width + b.width, a.integer + b.integer, a.signed or b.signed, "product", a, b)


def _sum_integer(a: FixedType, b: FixedType) -> int:
    # an unsigned operand next to a signed one needs one more integer bit
    return max(a.integer + (b.signed and not a.signed), b.integer + (a.signed and not b.signed)) + 1


def add_type(a: FixedType, b: FixedType) -> FixedType:
    """The exact type of `a + b`: one integer bit more than the wider operand, the finer F."""
    integer = _sum_integer(a, b)
    return _make(integer + max(a.frac, b.frac), integer, a.signed or b.signed, "sum", a, b)


def sub_type(a: FixedType, b: FixedType) -> FixedType:
    """The exact type of `a - b`: like `add_type`, but always signed."""
    integer = _sum_integer(a, b)
    return _make(integer + max(a.frac, b.frac), integer, True, "difference", a, b)
