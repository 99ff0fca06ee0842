"""fit_type: the narrowest type without overflow, for a given resolution, width or losslessly."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import FixedPointError
from hepinfer.fixed import FixedType, Overflow, Quant, fit_type


def _no_overflow(t: FixedType, x: np.ndarray) -> bool:
    wide = (
        t.with_(width=64, integer=64 - t.frac)
        if t.signed
        else t.with_(width=63, integer=63 - t.frac)
    )
    return bool(np.array_equal(t.cast(x), wide.cast(x)))


def test_fixed_frac() -> None:
    assert fit_type([0.5, -3.25], frac=4) == FixedType(7, 3)
    assert fit_type([0.5, 3.25], frac=4) == FixedType(6, 2, signed=False)
    assert fit_type([0.5, 3.25], frac=4, signed=True) == FixedType(7, 3)
    assert fit_type([-4.0], frac=0) == FixedType(3, 3)  # -4 needs exactly 3 signed bits
    assert fit_type([4.0], frac=0) == FixedType(3, 3, signed=False)


def test_rounding_up_can_need_one_more_bit() -> None:
    # 3.9 truncates to 3 (2 bits) but rounds to 4 (3 bits)
    assert fit_type([3.9], frac=0) == FixedType(2, 2, signed=False)
    assert fit_type([3.9], frac=0, quant=Quant.RND) == FixedType(
        3, 3, signed=False, quant=Quant.RND
    )
    # a small negative value that rounds to zero does not make the type signed
    assert not fit_type([-0.1, 1.0], frac=0, quant=Quant.RND).signed


def test_lossless_type() -> None:
    t = fit_type([0.75, -2.5, 0.0])
    assert t == FixedType(5, 3)
    assert t.contains([0.75, -2.5, 0.0])
    assert fit_type([1024.0, 2048.0]) == FixedType(2, 12, signed=False)  # negative frac
    assert fit_type([0.0]) == FixedType(1, 1, signed=False)
    assert fit_type([]) == FixedType(1, 1, signed=False)


@pytest.mark.parametrize("width", [4, 8, 16, 24])
@pytest.mark.parametrize("quant", [Quant.TRN, Quant.RND, Quant.RND_CONV])
def test_fixed_width_is_finest_without_overflow(width: int, quant: Quant) -> None:
    rng = np.random.default_rng(width)
    x = rng.normal(0, 7, size=5000)
    t = fit_type(x, width=width, quant=quant, overflow=Overflow.SAT)
    assert (t.width, t.quant, t.overflow) == (width, quant, Overflow.SAT)
    assert _no_overflow(t.with_(overflow=Overflow.WRAP), x)
    finer = t.with_(integer=t.integer - 1)  # one more fractional bit overflows
    assert not _no_overflow(finer.with_(overflow=Overflow.WRAP), x)


def test_random_arrays_never_overflow() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        x = rng.normal(0, 10.0 ** rng.uniform(-3, 4), size=50) + rng.uniform(-5, 5) * rng.integers(
            2
        )
        frac = int(rng.integers(-4, 20))
        quant = list(Quant)[int(rng.integers(7))]
        t = fit_type(x, frac=frac, quant=quant)
        assert _no_overflow(t, x)
        if t.width > 1:  # and it is the narrowest such type
            narrower = t.with_(width=t.width - 1, integer=t.integer - 1)
            assert not _no_overflow(narrower, x)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"x": [1.0], "frac": 3, "width": 8}, "at most one of frac"),
        ({"x": [np.nan]}, "finite"),
        ({"x": [-1.0], "signed": False}, "unsigned type asked for"),
        ({"x": [1e30], "frac": 10}, "need"),
        # 0.1 needs 55 fractional bits to be exact, 1000.0 ten integer bits: 65 in all
        ({"x": [0.1, 1000.0]}, "need 65 bits"),
    ],
)
def test_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(FixedPointError, match=needle):
        fit_type(**kwargs)  # type: ignore[arg-type]
