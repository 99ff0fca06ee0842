"""Parsing type strings: every accepted spelling, the canonical round trip and clear errors."""

from __future__ import annotations

import pytest

from hepinfer.errors import FixedPointError
from hepinfer.fixed import FixedType, Overflow, Quant, parse_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ap_fixed<16,6>", FixedType(16, 6)),
        ("ap_fixed<16,6,AP_RND,AP_SAT>", FixedType(16, 6, True, Quant.RND, Overflow.SAT)),
        (
            "ap_fixed<16,6,AP_RND_CONV,AP_WRAP,2>",
            FixedType(16, 6, True, Quant.RND_CONV, Overflow.WRAP, 2),
        ),
        ("ap_ufixed<8,0>", FixedType(8, 0, signed=False)),
        ("fixed<18,8,RND,SAT>", FixedType(18, 8, True, Quant.RND, Overflow.SAT)),
        ("ufixed<10,-2,rnd_inf>", FixedType(10, -2, False, Quant.RND_INF)),
        ("ap_int<8>", FixedType(8, 8)),
        ("ap_uint<8>", FixedType(8, 8, signed=False)),
        ("int<8>", FixedType(8, 8)),
        ("uint<4>", FixedType(4, 4, signed=False)),
        (
            "  ap_fixed < 16 , 6 , AP_TRN_ZERO , AP_SAT_ZERO >  ",
            FixedType(16, 6, True, Quant.TRN_ZERO, Overflow.SAT_ZERO),
        ),
        ("ap_fixed<4,+9>", FixedType(4, 9)),
    ],
)
def test_accepted_spellings(text: str, expected: FixedType) -> None:
    assert FixedType.parse(text) == expected
    assert parse_type(text) == expected


@pytest.mark.parametrize("quant", list(Quant))
@pytest.mark.parametrize("overflow", list(Overflow))
@pytest.mark.parametrize(
    ("width", "integer", "signed"), [(16, 6, True), (8, 0, False), (3, -5, True), (5, 12, False)]
)
def test_str_round_trips(
    quant: Quant, overflow: Overflow, width: int, integer: int, signed: bool
) -> None:
    sat_bits = [0, 1, 2] if overflow is Overflow.WRAP else [0]
    for n in sat_bits:
        t = FixedType(width, integer, signed, quant, overflow, n)
        text = str(t)
        assert text.startswith("ap_fixed<" if signed else "ap_ufixed<")
        assert FixedType.parse(text) == t


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ap_fixed16,6", "cannot parse fixed-point type 'ap_fixed16,6'"),
        ("ap_float<16,6>", "unknown fixed-point kind 'ap_float'"),
        ("ap_fixed<16>", "2 to 5 non-empty arguments, got 1"),
        ("ap_fixed<16,6,AP_RND,AP_SAT,1,2>", "got 6"),
        ("ap_fixed<16,,AP_RND>", "non-empty"),
        ("ap_fixed<x,6>", "width W 'x'"),
        ("ap_fixed<16,6.5>", "integer bits I '6.5'"),
        ("ap_fixed<16,6,AP_ROUND>", "unknown quantisation mode 'AP_ROUND'"),
        ("ap_fixed<16,6,AP_RND,AP_CLAMP>", "unknown overflow mode 'AP_CLAMP'"),
        ("ap_fixed<16,6,AP_RND,AP_WRAP_SM>", "AP_WRAP_SM is not supported"),
        ("ap_fixed<16,6,AP_RND,AP_WRAP,n>", "saturation bits N 'n'"),
        ("ap_int<8,3>", "exactly one argument"),
        ("ap_fixed<0,0>", "width W=0"),
        ("ap_ufixed<64,3>", "1 <= W <= 63"),
    ],
)
def test_bad_strings_name_the_bad_part(text: str, needle: str) -> None:
    with pytest.raises(FixedPointError, match=needle.replace("(", r"\(").replace("<", "<")):
        FixedType.parse(text)


def test_non_string_is_rejected() -> None:
    with pytest.raises(FixedPointError, match="type string is needed"):
        parse_type(16)  # type: ignore[arg-type]
