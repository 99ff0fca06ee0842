"""Casts: shapes and dtypes, special values, wide types, chunk boundaries, hand-checked cases.

(Bit-exactness over millions of values is checked against APyTypes and Xilinx's headers in
`test_cast_apytypes.py` and `test_cast_xilinx.py`.)
"""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import FixedPointError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.cast import CHUNK


@pytest.mark.parametrize(
    ("quant", "expected"),
    [
        # inputs: -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.25, -1.25, 1.75, -1.75 (steps of 1)
        (Quant.TRN, [-3, -2, -1, 0, 1, 2, 1, -2, 1, -2]),
        (Quant.TRN_ZERO, [-2, -1, 0, 0, 1, 2, 1, -1, 1, -1]),
        (Quant.RND, [-2, -1, 0, 1, 2, 3, 1, -1, 2, -2]),
        (Quant.RND_ZERO, [-2, -1, 0, 0, 1, 2, 1, -1, 2, -2]),
        (Quant.RND_INF, [-3, -2, -1, 1, 2, 3, 1, -1, 2, -2]),
        (Quant.RND_MIN_INF, [-3, -2, -1, 0, 1, 2, 1, -1, 2, -2]),
        (Quant.RND_CONV, [-2, -2, 0, 0, 2, 2, 1, -1, 2, -2]),
    ],
)
def test_quantisation_modes_by_hand(quant: Quant, expected: list[int]) -> None:
    t = FixedType(8, 8, quant=quant)
    x = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.25, -1.25, 1.75, -1.75]
    assert t.cast(x).tolist() == expected
    assert t.to_mantissa(x).tolist() == expected
    # the same through a fixed -> fixed cast from a finer type
    src = FixedType(12, 8)
    assert t.cast_mantissa(src.to_mantissa(x), src).tolist() == expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        # inputs: 9, -9, 8, -8, 7 into 4-bit integers
        (FixedType(4, 4), [-7, 7, -8, -8, 7]),
        (FixedType(4, 4, overflow=Overflow.SAT), [7, -8, 7, -8, 7]),
        (FixedType(4, 4, overflow=Overflow.SAT_ZERO), [0, 0, 0, -8, 7]),
        (FixedType(4, 4, overflow=Overflow.SAT_SYM), [7, -7, 7, -7, 7]),
        (FixedType(4, 4, signed=False), [9, 7, 8, 8, 7]),
        (FixedType(4, 4, signed=False, overflow=Overflow.SAT), [9, 0, 8, 0, 7]),
        (FixedType(4, 4, signed=False, overflow=Overflow.SAT_SYM), [9, 0, 8, 0, 7]),
        # WRAP with one saturation bit: the sign bit takes the source's sign
        (FixedType(4, 4, sat_bits=1), [1, -1, 0, -8, 7]),
        # unsigned WRAP with N bits: the N top bits become ones on overflow and underflow
        (FixedType(3, 3, signed=False, sat_bits=1), [5, 7, 4, 4, 7]),
    ],
)
def test_overflow_modes_by_hand(t: FixedType, expected: list[int]) -> None:
    assert t.cast([9, -9, 8, -8, 7]).tolist() == expected


def test_special_values_follow_the_xilinx_header() -> None:
    x = [np.nan, -np.nan, np.inf, -np.inf, 1e300, -1e300]
    sat = FixedType(8, 4, overflow=Overflow.SAT)
    assert sat.cast(x).tolist() == [sat.max, sat.min, sat.max, sat.min, sat.max, sat.min]
    assert FixedType(8, 4).cast(x).tolist() == [0.0] * 6  # huge values are multiples of 2**W
    wide = FixedType(60, 20, overflow=Overflow.SAT)
    assert wide.to_mantissa(x).tolist() == [wide.max_mantissa, wide.min_mantissa] * 3


@pytest.mark.parametrize("quant", list(Quant))
@pytest.mark.parametrize("overflow", list(Overflow))
def test_one_ulp_around_ties(quant: Quant, overflow: Overflow) -> None:
    # 0.5 - 2**-54 + 0.5 rounds to 1.0 in float64: a naive floor(x + 0.5) gets RND wrong
    t = FixedType(8, 8, quant=quant, overflow=overflow)
    below, above = np.nextafter(0.5, 0.0), np.nextafter(0.5, 1.0)
    x = np.array([below, -below, above, -above, np.nextafter(1.5, 0), np.nextafter(-1.5, 0)])
    nearest = [0, 0, 1, -1, 1, -1]
    truncated = {Quant.TRN: [0, -1, 0, -1, 1, -2], Quant.TRN_ZERO: [0, 0, 0, 0, 1, -1]}
    assert t.cast(x).tolist() == truncated.get(quant, nearest)


def test_negative_zero_becomes_zero() -> None:
    out = FixedType(8, 4, quant=Quant.RND_CONV).cast([-0.0, -0.01])
    assert not np.signbit(out).any()


def test_tiny_negative_values_truncate_to_minus_one_step() -> None:
    for t in (FixedType(4, 10), FixedType(8, 2), FixedType(60, 70)):
        assert t.cast([-5e-324, -1e-300]).tolist() == [-t.eps, -t.eps]
        assert FixedType(4, 10, quant=Quant.RND).cast([-5e-324]).tolist() == [0.0]


def test_shapes_dtypes_and_chunks() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 10, size=(3, CHUNK + 17))
    t = FixedType(12, 5, quant=Quant.RND, overflow=Overflow.SAT)
    out = t.cast(x)
    assert out.shape == x.shape
    assert out.dtype == np.float64
    flat = np.concatenate([t.cast(row) for row in x])  # same values whatever the chunking
    assert np.array_equal(out.reshape(-1), flat)
    assert np.array_equal(t.cast(x.T), out.T)  # non-contiguous input
    assert np.array_equal(
        t.cast(x.astype(np.float32)), t.cast(x.astype(np.float32).astype(np.float64))
    )
    assert t.cast(2.5).shape == ()
    assert t.to_mantissa([]).shape == (0,)
    m = t.to_mantissa(x)
    assert m.dtype == np.int64
    assert np.array_equal(t.from_mantissa(m), out)


@pytest.mark.parametrize(
    "t",
    [
        FixedType(60, 20, quant=Quant.RND_INF, overflow=Overflow.SAT),  # the int64 path
        FixedType(12, 4, quant=Quant.RND_ZERO, sat_bits=2),  # WRAP with N bits
        FixedType(12, 4, quant=Quant.RND_CONV, overflow=Overflow.SAT_ZERO),
    ],
)
def test_shapes_on_every_path(t: FixedType) -> None:
    x = np.random.default_rng(3).normal(0, 20, size=(7, 5, 3))
    m = t.to_mantissa(x)
    assert m.shape == x.shape
    assert np.array_equal(m.reshape(-1), t.to_mantissa(x.reshape(-1)))
    assert t.cast(x).shape == x.shape
    assert t.to_mantissa(1.5).shape == ()
    assert t.cast_mantissa(m, t).shape == x.shape


def test_nan_in_one_chunk_only_redoes_that_chunk() -> None:
    x = np.linspace(-40, 40, 3 * CHUNK)
    x[CHUNK + 5] = np.nan
    t = FixedType(10, 4, overflow=Overflow.SAT)
    out = t.cast(x)
    assert out[CHUNK + 5] == t.max
    keep = np.ones(x.size, bool)
    keep[CHUNK + 5] = False
    assert np.array_equal(out[keep], np.clip(np.floor(x[keep] * 64) / 64, t.min, t.max))


def test_wide_types_are_exact_through_mantissas() -> None:
    t = FixedType(64, 64)
    x = np.array([2.0**62 + 2.0**10, -(2.0**63), 2.0**63, 3.0])
    assert t.to_mantissa(x).tolist() == [2**62 + 2**10, -(2**63), -(2**63), 3]
    t = FixedType(64, 64, overflow=Overflow.SAT)
    assert t.to_mantissa([2.0**63, 1e30]).tolist() == [2**63 - 1, 2**63 - 1]
    assert t.cast([2.0**63]).tolist() == [2.0**63]  # nearest float64 of 2**63 - 1


def test_fixed_to_fixed_edge_shifts() -> None:
    src = FixedType(64, 0)  # mantissa m means m * 2**-64
    m = np.array([-(2**63), 2**63 - 1, -1, 1, 0], dtype=np.int64)
    # a shift by exactly 64 bits: -2**63 * 2**-64 = -0.5, a tie
    assert FixedType(8, 8, quant=Quant.RND).cast_mantissa(m, src).tolist() == [0, 0, 0, 0, 0]
    assert FixedType(8, 8, quant=Quant.RND_INF).cast_mantissa(m, src).tolist() == [-1, 0, 0, 0, 0]
    assert FixedType(8, 8).cast_mantissa(m, src).tolist() == [-1, 0, -1, 0, 0]
    # shifts by more than 64 bits, both ways
    assert FixedType(8, 80).cast_mantissa(m, src).tolist() == [-1, 0, -1, 0, 0]
    assert FixedType(8, 80, quant=Quant.RND_MIN_INF).cast_mantissa(m, src).tolist() == [0] * 5
    big = FixedType(8, -70)
    assert big.cast_mantissa(m, src).tolist() == [0] * 5
    assert big.with_(overflow=Overflow.SAT).cast_mantissa(m, src).tolist() == [
        -128,
        127,
        -128,
        127,
        0,
    ]


@pytest.mark.parametrize("overflow", [Overflow.WRAP, Overflow.SAT])
def test_fixed_to_fixed_rounds_the_int64_extremes(overflow: Overflow) -> None:
    # a one-bit shift of the largest int64: m + 1 would overflow
    m = np.array([2**63 - 1, -(2**63), 1, -1, 3, -3], dtype=np.int64)
    t = FixedType(64, 1, quant=Quant.RND, overflow=overflow)
    assert t.cast_mantissa(m, FixedType(64, 0)).tolist() == [2**62, -(2**62), 1, 0, 2, -1]


def test_fixed_to_fixed_in_blocks() -> None:
    src = FixedType(40, 12)
    m = np.random.default_rng(2).integers(src.min_mantissa, src.max_mantissa, size=(2, CHUNK + 5))
    for dst in (FixedType(16, 6, quant=Quant.RND_CONV, overflow=Overflow.SAT), FixedType(10, 3)):
        out = dst.cast_mantissa(m, src)
        assert out.shape == m.shape
        assert np.array_equal(out[1], dst.cast_mantissa(m[1], src))
        assert np.array_equal(out.T, dst.cast_mantissa(m.T, src))  # non-contiguous


def test_fixed_to_fixed_returns_a_new_array() -> None:
    m = np.array([1, 2, 3], dtype=np.int64)
    out = FixedType(8, 4).cast_mantissa(m, FixedType(8, 4))
    out[0] = 99
    assert m.tolist() == [1, 2, 3]


def test_fixed_to_fixed_accepts_integer_dtypes_only() -> None:
    t = FixedType(8, 4)
    assert t.cast_mantissa(np.array([3], dtype=np.int8), FixedType(8, 4)).tolist() == [3]
    with pytest.raises(FixedPointError, match="integer array"):
        t.cast_mantissa(np.array([1.5]), FixedType(8, 4))
    with pytest.raises(FixedPointError, match="do not fit int64"):
        t.cast_mantissa(np.array([2**63], dtype=np.uint64), FixedType(8, 4))


def test_non_numeric_input_is_a_clear_error() -> None:
    with pytest.raises(FixedPointError, match="cannot cast"):
        FixedType(8, 4).cast(["a"])
    with pytest.raises(FixedPointError, match="cannot cast"):
        FixedType(8, 4).cast([10**400])
