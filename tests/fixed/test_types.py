"""FixedType: validation, derived properties, text form and the convenience constructors."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import FixedPointError
from hepinfer.fixed import FixedType, Overflow, Quant


def test_properties_of_a_signed_type() -> None:
    t = FixedType(16, 6)
    assert t.frac == 10
    assert (t.min_mantissa, t.max_mantissa) == (-32768, 32767)
    assert (t.min, t.max, t.eps) == (-32.0, 32767 / 1024, 2.0**-10)
    assert not t.is_integer
    assert t.exact_float


def test_properties_of_an_unsigned_type() -> None:
    t = FixedType(8, 0, signed=False)
    assert (t.min_mantissa, t.max_mantissa) == (0, 255)
    assert (t.min, t.max, t.eps) == (0.0, 255 / 256, 1 / 256)


@pytest.mark.parametrize(
    ("width", "integer", "frac", "lo", "hi", "eps"),
    [
        (4, 8, -4, -128.0, 112.0, 16.0),  # I > W: steps coarser than 1
        (4, -2, 6, -0.125, 7 / 64, 1 / 64),  # I < 0: all values below 1/4 in magnitude
        (1, 1, 0, -1.0, 0.0, 1.0),  # a single sign bit
    ],
)
def test_negative_and_large_integer_bits(
    width: int, integer: int, frac: int, lo: float, hi: float, eps: float
) -> None:
    t = FixedType(width, integer)
    assert (t.frac, t.min, t.max, t.eps) == (frac, lo, hi, eps)


def test_wide_types_and_limits() -> None:
    assert FixedType(64, 32).max_mantissa == 2**63 - 1
    assert FixedType(63, 0, signed=False).max_mantissa == 2**63 - 1
    assert not FixedType(64, 32).exact_float


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"width": 0, "integer": 0}, "width W=0"),
        ({"width": 65, "integer": 3}, "width W=65"),
        ({"width": 64, "integer": 3, "signed": False}, "1 <= W <= 63"),
        ({"width": 8, "integer": 2000}, "fractional bits"),
        ({"width": 8, "integer": 4, "sat_bits": 9}, "saturation bits N=9"),
        (
            {"width": 8, "integer": 4, "sat_bits": 2, "overflow": Overflow.SAT},
            "only apply to AP_WRAP",
        ),
        ({"width": 8.0, "integer": 4}, "must be an int"),
        ({"width": 8, "integer": 4, "quant": "ROUND"}, "unknown quantisation mode 'ROUND'"),
    ],
)
def test_invalid_types_are_rejected(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(FixedPointError, match=needle):
        FixedType(**kwargs)  # type: ignore[arg-type]


def test_modes_by_name() -> None:
    t = FixedType(8, 3, quant="rnd_conv", overflow="AP_SAT_SYM")  # type: ignore[arg-type]
    assert (t.quant, t.overflow) == (Quant.RND_CONV, Overflow.SAT_SYM)


def test_str_omits_defaults() -> None:
    assert str(FixedType(16, 6)) == "ap_fixed<16,6>"
    assert str(FixedType(16, 6, quant=Quant.RND)) == "ap_fixed<16,6,AP_RND>"
    assert str(FixedType(16, 6, overflow=Overflow.SAT)) == "ap_fixed<16,6,AP_TRN,AP_SAT>"
    assert str(FixedType(16, 6, False, Quant.RND_CONV, Overflow.WRAP, 2)) == (
        "ap_ufixed<16,6,AP_RND_CONV,AP_WRAP,2>"
    )


def test_helpers() -> None:
    t = FixedType(16, 6)
    assert t.with_(quant=Quant.RND).quant is Quant.RND
    assert t.with_frac(4) == FixedType(10, 6)
    assert FixedType.from_frac(8, 10) == FixedType(8, -2)
    assert FixedType.int_type(8, signed=False) == FixedType(8, 8, signed=False)
    assert t.contains([1.5, -32.0])
    assert not t.contains([32.0])
    assert not t.contains([2.0**-11])
    assert not t.contains([np.nan])


def test_repr_evaluates_to_an_equal_type() -> None:
    t = FixedType(12, -3, False, Quant.RND_INF, Overflow.WRAP, 2)
    assert repr(t) == "FixedType.parse('ap_ufixed<12,-3,AP_RND_INF,AP_WRAP,2>')"
    assert eval(repr(t)) == t


def test_types_are_hashable_values() -> None:
    assert len({FixedType(8, 3), FixedType(8, 3), FixedType.parse("fixed<8,3>")}) == 1
