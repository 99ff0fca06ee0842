"""Property tests of the casts against APyTypes (the fixed-point oracle), over a million casts.

APyTypes (0.5.1) has the same TRN/TRN_ZERO/RND/RND_ZERO/RND_INF/RND_MIN_INF/RND_CONV and
WRAP/SAT semantics as Xilinx. Its fixed-point numbers are all signed, so an unsigned target
`ap_ufixed<W,I>` is checked through the signed `<W+1,I+1>` cast: SAT then clamps negatives to
0 and WRAP reduces modulo 2**I (both exact, on the oracle's output). APyTypes does not wrap
sources wider than 64 bits, so every source here is at most 53 bits wide (exact in float64).
SAT_ZERO, SAT_SYM and WRAP with saturation bits are checked against Xilinx's own headers
(`test_cast_xilinx.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from hepinfer.fixed import FixedType, Overflow, Quant

apy = pytest.importorskip("apytypes", reason="APyTypes (the oracle) is not installed")

pytestmark = pytest.mark.oracle

QUANTS = list(Quant)
OVERFLOWS = [Overflow.WRAP, Overflow.SAT]
N_TYPES = 600  # per test; with ~1700 values each: over a million casts in all


@dataclass(frozen=True)
class Src:
    """A source format of at most 53 bits: values m * 2**-frac with |m| < 2**(bits-1)."""

    int_bits: int
    frac: int

    @property
    def bits(self) -> int:
        return self.int_bits + self.frac


def _random_type(rng: np.random.Generator) -> FixedType:
    width = int(rng.integers(1, 41))
    integer = int(rng.integers(-8, 49))
    return FixedType(
        width,
        integer,
        signed=bool(rng.integers(2)),
        quant=QUANTS[int(rng.integers(len(QUANTS)))],
        overflow=OVERFLOWS[int(rng.integers(len(OVERFLOWS)))],
    )


def _edge_mantissas(
    t: FixedType, src: Src, rng: np.random.Generator, n: int
) -> npt.NDArray[np.int64]:
    """Source mantissas hitting t's edge cases: ties, grid points, the range ends and one step
    beyond, tiny values around zero, the source's own extremes, plus random values.
    """
    shift = src.frac - t.frac  # source lsb per target lsb: 2**shift (shift >= 2 here)
    lsb = 1 << shift
    limit = (1 << (src.bits - 1)) - 1
    grid = np.concatenate(
        [
            np.array([t.min_mantissa, t.max_mantissa, 0, 1, -1, 2, -2]),
            np.array(
                [t.min_mantissa - 1, t.max_mantissa + 1, t.min_mantissa - 2, t.max_mantissa + 2]
            ),
            rng.integers(t.min_mantissa - 4, t.max_mantissa + 5, size=n // 4),
        ]
    ).astype(object)
    base = grid * lsb
    points = [
        base,  # exact grid points
        base + lsb // 2,  # exact ties
        base - lsb // 2,
        base + lsb // 2 + 1,  # one source step either side of a tie
        base + lsb // 2 - 1,
        base + 1,
        base - 1,
    ]
    values = np.concatenate(points)
    extra = np.array([limit, -limit, 1, -1, 0, limit // 3, -(limit // 3)], dtype=object)
    random_wide = rng.integers(-limit, limit + 1, size=n // 4, dtype=np.int64).astype(object)
    values = np.concatenate([values, extra, random_wide])
    values = values[(values >= -limit) & (values <= limit)]
    return values.astype(np.int64)


def _oracle(values: npt.NDArray[np.float64], src: Src, t: FixedType) -> npt.NDArray[np.float64]:
    """APyTypes' cast of exact source values to t, as float64."""
    x = apy.APyFixedArray.from_float(values, int_bits=src.int_bits, frac_bits=src.frac)
    signed_int = t.integer if t.signed else t.integer + 1
    out = x.cast(
        int_bits=signed_int,
        frac_bits=t.frac,
        quantization=getattr(apy.QuantizationMode, t.quant.value),
        overflow=getattr(apy.OverflowMode, t.overflow.value),
    ).to_numpy()
    if not t.signed:
        if t.overflow is Overflow.SAT:
            out = np.maximum(out, 0.0)
        else:
            out = np.where(out < 0, out + 2.0**t.integer, out)
    return np.asarray(out, dtype=np.float64)


def _report(
    t: FixedType,
    x: npt.NDArray[np.float64],
    got: npt.NDArray[np.float64],
    want: npt.NDArray[np.float64],
) -> str:
    bad = np.flatnonzero(got != want)[:5]
    rows = [f"x={x[i]!r}: hepinfer {got[i]!r}, apytypes {want[i]!r}" for i in bad]
    return f"{t}: {len(np.flatnonzero(got != want))} mismatches, e.g. " + "; ".join(rows)


def test_float_to_fixed_matches_apytypes() -> None:
    rng = np.random.default_rng(20260521)
    total = 0
    for _ in range(N_TYPES):
        t = _random_type(rng)
        extra_int = min(10, (53 - t.width) // 2)
        src = Src(t.integer + extra_int, t.frac + min(24, 53 - t.width - extra_int))
        m = _edge_mantissas(t, src, rng, 400)
        x = m.astype(np.float64) * 2.0**-src.frac  # exact: |m| < 2**53
        want = _oracle(x, src, t)
        got = t.cast(x)
        assert np.array_equal(got, want), _report(t, x, got, want)
        mant = t.to_mantissa(x)
        assert mant.dtype == np.int64
        assert np.array_equal(t.from_mantissa(mant), want), _report(
            t, x, t.from_mantissa(mant), want
        )
        total += x.size
    assert total >= 500_000


def test_fixed_to_fixed_matches_apytypes() -> None:
    rng = np.random.default_rng(7)
    total = 0
    for _ in range(N_TYPES):
        dst = _random_type(rng)
        src_t = _random_type(rng).with_(quant=Quant.TRN, overflow=Overflow.WRAP)
        while max(src_t.integer, dst.integer) + 1 + max(src_t.frac, dst.frac) > 64:
            # APyTypes goes wrong when the aligned source and target need more than 64 bits
            # (e.g. a positive value saturating to the negative minimum); Xilinx's headers
            # check those pairs in test_cast_xilinx.py
            src_t = _random_type(rng).with_(quant=Quant.TRN, overflow=Overflow.WRAP)
        m = np.concatenate(
            [
                rng.integers(src_t.min_mantissa, src_t.max_mantissa + 1, size=1200, dtype=np.int64),
                np.array(
                    [
                        src_t.min_mantissa,
                        src_t.max_mantissa,
                        0,
                        1,
                        src_t.min_mantissa + 1,
                        src_t.max_mantissa - 1,
                    ]
                ),
            ]
        ).astype(np.int64)
        m = np.clip(m, src_t.min_mantissa, src_t.max_mantissa)
        if src_t.frac > dst.frac:
            # around dst's ties, grid points and range ends, seen from the source
            sh = src_t.frac - dst.frac
            k = rng.integers(dst.min_mantissa - 3, dst.max_mantissa + 4, size=300).astype(object)
            near = np.concatenate(
                [
                    k << sh,
                    (k << sh) + (1 << (sh - 1)),
                    (k << sh) + (1 << (sh - 1)) - 1,
                    (k << sh) - 1,
                ]
            )
            near = near[(near >= src_t.min_mantissa) & (near <= src_t.max_mantissa)].astype(
                np.int64
            )
            m = np.concatenate([m, near])
        # the source as APyTypes sees it: signed, one more integer bit when unsigned
        src = Src(src_t.integer + (not src_t.signed), src_t.frac)
        x = src_t.from_mantissa(m)
        want = _oracle(x, src, dst)
        got_m = dst.cast_mantissa(m, src_t)
        assert got_m.dtype == np.int64
        got = dst.from_mantissa(got_m)
        assert np.array_equal(got, want), _report(dst, x, got, want) + f" (from {src_t})"
        total += m.size
    assert total >= 500_000
