from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from hepinfer.errors import EstimateError
from hepinfer.estimate.precision import Precision, as_precision, quantize_weights


@dataclass(frozen=True)
class FakeFixedType:
    width: int
    integer: int
    signed: bool


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Precision(8, 3, False), Precision(8, 3, False)),
        (12, Precision(12, 12, True)),
        ((16, 6), Precision(16, 6, True)),
        ((8, 0, False), Precision(8, 0, False)),
        ("ap_fixed<16,6>", Precision(16, 6, True)),
        ("ap_ufixed<8, 2>", Precision(8, 2, False)),
        ("fixed<18,8,RND,SAT>", Precision(18, 8, True)),
        ("ap_int<8>", Precision(8, 8, True)),
        ("ap_uint<4>", Precision(4, 4, False)),
        (FakeFixedType(10, 4, True), Precision(10, 4, True)),
    ],
)
def test_as_precision_accepts_every_form(value: object, expected: Precision) -> None:
    assert as_precision(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["float", "ap_fixed<16>", (1, 2, 3, 4), True, 0, 3.5])
def test_as_precision_rejects_with_a_precise_error(value: object) -> None:
    with pytest.raises(EstimateError, match="precision"):
        as_precision(value)  # type: ignore[arg-type]


def test_precision_fractional_bits_and_text() -> None:
    p = Precision(16, 6)
    assert p.fractional == 10
    assert str(p) == "ap_fixed<16,6>"
    assert str(Precision(8, 0, False)) == "ap_ufixed<8,0>"


def test_quantize_weights_truncates_and_saturates() -> None:
    p = Precision(8, 3)  # 5 fractional bits, range [-4, 4 - 1/32]
    q = quantize_weights(np.array([0.0, 1.0, 1.01, -1.01, 100.0, -100.0]), p)
    assert q.tolist() == [0, 32, 32, -33, 127, -128]
