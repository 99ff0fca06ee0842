#!/usr/bin/env python3
"""Benchmark: cast float64 arrays to a fixed-point type with hepinfer, APyTypes and fxpmath.

    .venv/bin/python benchmarks/bench_fixed_cast.py [--n 10000000] [--type 'ap_fixed<16,6,AP_RND,AP_SAT>']

Every tool produces float64 values of the fixed-point results from the same input in the same
run; the table gives the median of `--repeat` runs (best in brackets) and the ratio of each
tool's median to hepinfer's. Notes on the peers:

- APyTypes 0.5.1: `APyFixedArray.from_float` always rounds with RND_INF and wraps, so the
  double first goes to a wide exact-enough type (64 bits: 16 integer, 48 fractional), then
  `cast(..., RND, SAT)`, then `to_numpy()`; all three steps are timed.
- fxpmath has no round-half-up mode; `rounding='around'` (half to even) is the closest. It is
  slow, so it runs on the first `--fxp-n` values and its time is scaled linearly to `--n`
  (the table says so).
The results of all three are compared element by element and the mismatch counts printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.fixed import FixedType, Overflow, Quant

Result = npt.NDArray[np.float64] | npt.NDArray[np.int64]


def _timed(fn: Callable[[], Result], repeat: int) -> tuple[float, float, Result]:
    times: list[float] = []
    out: Result = np.empty(0)
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), out


def apy_fixed_values(src: Any, t: FixedType, apytypes: Any) -> Any:
    """APyTypes' fixed -> fixed cast of `src` to t, as float64 values."""
    return src.cast(
        int_bits=t.integer,
        frac_bits=t.frac,
        quantization=apytypes.QuantizationMode.RND,
        overflow=apytypes.OverflowMode.SAT,
    ).to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="values to cast")
    parser.add_argument("--type", default="ap_fixed<16,6,AP_RND,AP_SAT>", help="target type")
    parser.add_argument("--repeat", type=int, default=5, help="runs per tool (median)")
    parser.add_argument("--fxp-n", type=int, default=1_000_000, help="values for fxpmath")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import apytypes
    from fxpmath import Fxp

    t = FixedType.parse(args.type)
    if t.quant is not Quant.RND or t.overflow is not Overflow.SAT or not t.signed:
        parser.error("the peers are set up for signed AP_RND/AP_SAT types only")
    rng = np.random.default_rng(args.seed)
    # jet-feature-like values: mostly inside the range, about 1% saturating
    x = rng.normal(0.0, 12.0, args.n)
    x[:: max(1, args.n // 1000)] *= 40.0

    def hepinfer_cast() -> Result:
        return t.cast(x)

    def hepinfer_mantissa() -> Result:
        return t.to_mantissa(x)  # int64 mantissas

    def apy_cast() -> Result:
        wide = apytypes.APyFixedArray.from_float(x, int_bits=16, frac_bits=48)
        q = wide.cast(
            int_bits=t.integer,
            frac_bits=t.frac,
            quantization=apytypes.QuantizationMode.RND,
            overflow=apytypes.OverflowMode.SAT,
        )
        return np.asarray(q.to_numpy(), dtype=np.float64)

    sub = x[: args.fxp_n]

    def fxp_cast() -> Result:
        f = Fxp(
            sub, signed=True, n_word=t.width, n_frac=t.frac, rounding="around", overflow="saturate"
        )
        return np.asarray(f.get_val(), dtype=np.float64)

    rows = []
    med, best, ref = _timed(hepinfer_cast, args.repeat)
    rows.append(("hepinfer `FixedType.cast`", med, best, args.n, ""))
    med, best, mant = _timed(hepinfer_mantissa, args.repeat)
    rows.append(("hepinfer `to_mantissa` (int64 mantissas)", med, best, args.n, ""))
    mant = t.from_mantissa(mant)
    med, best, apy = _timed(apy_cast, args.repeat)
    rows.append(("APyTypes 0.5.1 `from_float` + `cast` + `to_numpy`", med, best, args.n, ""))
    fxp_repeat = max(1, min(args.repeat, 3))
    med, best, fxp = _timed(fxp_cast, fxp_repeat)
    scale = args.n / sub.size
    note = f" (timed on {sub.size:,}, scaled x{scale:g})" if scale != 1 else ""
    rows.append((f"fxpmath `Fxp(...).get_val()`{note}", med * scale, best * scale, args.n, ""))

    # fixed -> fixed: accumulator mantissas (as in a Dense layer) cast to the target type
    acc = FixedType(32, 12)
    acc_m = acc.to_mantissa(x / 4.0)
    acc_apy = apytypes.APyFixedArray.from_float(
        acc.from_mantissa(acc_m), int_bits=acc.integer, frac_bits=acc.frac
    )

    def hepinfer_fixed() -> Result:
        return t.cast_mantissa(acc_m, acc)

    def apy_fixed() -> Result:
        q = acc_apy.cast(
            int_bits=t.integer,
            frac_bits=t.frac,
            quantization=apytypes.QuantizationMode.RND,
            overflow=apytypes.OverflowMode.SAT,
        )
        assert q is not None  # the result stays in APyTypes' own form (no conversion timed)
        return np.empty(0)

    fixed_rows = []
    med, best, from_acc = _timed(hepinfer_fixed, args.repeat)
    fixed_rows.append((f"hepinfer `cast_mantissa` from {acc}", med, best, args.n, ""))
    med, best, _ = _timed(apy_fixed, args.repeat)
    fixed_rows.append((f"APyTypes 0.5.1 `cast` from {acc} (no conversions)", med, best, args.n, ""))
    apy_from_acc = np.asarray(apy_fixed_values(acc_apy, t, apytypes), dtype=np.float64)

    base = rows[0][1]
    print(
        f"Casting {args.n:,} float64 values to {t} (median of {args.repeat} runs, best in brackets)\n"
    )
    print("| tool | time | casts/s | time / hepinfer |")
    print("|---|---|---|---|")
    for name, med_s, best_s, n, _ in rows:
        print(
            f"| {name} | {med_s:.3f} s ({best_s:.3f}) | {n / med_s / 1e6:,.1f} M | {med_s / base:.1f}x |"
        )
    print()
    print(f"Fixed -> fixed: {args.n:,} mantissas of {acc} cast to {t}\n")
    print("| tool | time | casts/s | time / hepinfer |")
    print("|---|---|---|---|")
    for name, med_s, best_s, n, _ in fixed_rows:
        ratio = med_s / fixed_rows[0][1]
        print(
            f"| {name} | {med_s:.3f} s ({best_s:.3f}) | {n / med_s / 1e6:,.1f} M | {ratio:.1f}x |"
        )
    mismatch = int(np.count_nonzero(t.from_mantissa(from_acc) != apy_from_acc))
    print(f"\nhepinfer vs APyTypes (fixed -> fixed): {mismatch} mismatches of {args.n:,}")
    print()
    print(f"hepinfer cast vs to_mantissa: {int(np.count_nonzero(ref != mant))} mismatches")
    print(f"hepinfer vs APyTypes: {int(np.count_nonzero(ref != apy))} mismatches of {args.n:,}")
    diff = int(np.count_nonzero(ref[: sub.size] != fxp))
    print(f"hepinfer vs fxpmath (half-to-even ties): {diff} mismatches of {sub.size:,}")


if __name__ == "__main__":
    main()
