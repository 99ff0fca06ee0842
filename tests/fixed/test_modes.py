"""Quant and Overflow: names, C++ spellings, parsing."""

from __future__ import annotations

import pytest

from hepinfer.errors import FixedPointError
from hepinfer.fixed import Overflow, Quant


def test_cpp_names() -> None:
    assert [q.ap_name for q in Quant] == [
        "AP_TRN",
        "AP_TRN_ZERO",
        "AP_RND",
        "AP_RND_ZERO",
        "AP_RND_INF",
        "AP_RND_MIN_INF",
        "AP_RND_CONV",
    ]
    assert [o.ap_name for o in Overflow] == ["AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM"]


@pytest.mark.parametrize("mode", list(Quant))
def test_quant_parse(mode: Quant) -> None:
    assert Quant.parse(mode.ap_name) is mode
    assert Quant.parse(f" {mode.value.lower()} ") is mode


@pytest.mark.parametrize("mode", list(Overflow))
def test_overflow_parse(mode: Overflow) -> None:
    assert Overflow.parse(mode.ap_name) is mode
    assert Overflow.parse(mode.value.lower()) is mode


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(FixedPointError, match=r"unknown quantisation mode 'AP_FLOOR'.*AP_RND_CONV"):
        Quant.parse("AP_FLOOR")
    with pytest.raises(FixedPointError, match="AP_WRAP_SM is not supported"):
        Overflow.parse("AP_WRAP_SM")
