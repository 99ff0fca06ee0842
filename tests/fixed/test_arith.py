"""Result types of exact products, sums and differences (Xilinx's ap_fixed RType)."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import FixedPointError
from hepinfer.fixed import FixedType, add_type, mul_type, sub_type


def test_types_like_xilinx() -> None:
    a, b = FixedType(16, 6), FixedType(8, 3, signed=False)
    assert mul_type(a, b) == FixedType(24, 9)
    # the unsigned operand gets a sign bit: I = max(6, 3 + 1) + 1, F = max(10, 5)
    assert add_type(a, b) == FixedType(17, 7)
    assert sub_type(b, b) == FixedType(9, 4)  # unsigned - unsigned is signed
    assert add_type(b, b) == FixedType(9, 4, signed=False)


def _random_type(rng: np.random.Generator) -> FixedType:
    return FixedType(int(rng.integers(1, 21)), int(rng.integers(-6, 20)), bool(rng.integers(2)))


def test_results_are_exact_and_fit() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        a, b = _random_type(rng), _random_type(rng)
        ma = rng.integers(a.min_mantissa, a.max_mantissa, size=200, endpoint=True)
        mb = rng.integers(b.min_mantissa, b.max_mantissa, size=200, endpoint=True)
        ma[:2], mb[:2] = [a.min_mantissa, a.max_mantissa], [b.max_mantissa, b.min_mantissa]
        va, vb = a.from_mantissa(ma), b.from_mantissa(mb)
        for rt, exact in (
            (mul_type(a, b), va * vb),
            (add_type(a, b), va + vb),
            (sub_type(a, b), va - vb),
        ):
            # every exact result is a value of the result type (no rounding, no overflow)
            assert rt.contains(exact), (a, b, rt)
    m = mul_type(FixedType(8, 3), FixedType(8, 3))
    assert m.from_mantissa(np.array([-128 * -128])).tolist() == [(-4.0) * (-4.0)]


def test_too_wide_is_an_error() -> None:
    with pytest.raises(FixedPointError, match="needs 80 bits"):
        mul_type(FixedType(40, 10), FixedType(40, 10))
    with pytest.raises(FixedPointError, match="exact sum"):
        add_type(FixedType(64, 10), FixedType(64, 10))
