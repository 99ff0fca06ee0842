"""`hepinfer fixed TYPE [VALUES...]`: inspect a fixed-point type and cast values or arrays to it.

hepinfer fixed 'ap_fixed<16,6,AP_RND,AP_SAT>' 3.14159 -40 1e-4
hepinfer fixed 'fixed<8,3>' --json 0.3
hepinfer fixed 'ap_fixed<12,4,AP_RND_CONV,AP_SAT>' -i x.npy -o x_fixed.npy [--mantissa]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from hepinfer.fixed import FixedType

HELP = "inspect a fixed-point type (ap_fixed<W,I,Q,O,N>) and cast values or .npy arrays to it"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("type", metavar="TYPE", help="e.g. 'ap_fixed<16,6,AP_RND,AP_SAT>'")
    parser.add_argument(
        "values",
        metavar="VALUE",
        nargs="*",
        help="values to cast (floats; put '--' before them when one looks like an option: -1e3)",
    )
    parser.add_argument("-i", "--input", metavar="X.npy", help="cast the array in this .npy file")
    parser.add_argument("-o", "--output", metavar="Y.npy", help="write the cast array here")
    parser.add_argument(
        "--mantissa",
        action="store_true",
        help="with -o: write the int64 mantissas (value = m * 2**-F) instead of float64 values",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _bits(m: int, width: int) -> tuple[str, str]:
    pattern = m & ((1 << width) - 1)
    return f"0b{pattern:0{width}b}", f"0x{pattern:0{(width + 3) // 4}x}"


def _number(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def _exact(m: int, frac: int) -> str:
    """The exact decimal value of m * 2**-frac (a finite decimal)."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 400
        value = Decimal(m) * Decimal(2) ** -frac if frac <= 0 else Decimal(m) / Decimal(2) ** frac
        return format(value.normalize(), "f")


def _describe(t: FixedType) -> dict[str, Any]:
    exact = (
        {}
        if t.exact_float
        else {
            "min_exact": _exact(t.min_mantissa, t.frac),
            "max_exact": _exact(t.max_mantissa, t.frac),
        }
    )
    return exact | {
        "type": str(t),
        "width": t.width,
        "integer": t.integer,
        "frac": t.frac,
        "signed": t.signed,
        "quant": t.quant.ap_name,
        "overflow": t.overflow.ap_name,
        "sat_bits": t.sat_bits,
        "min": t.min,
        "max": t.max,
        "eps": t.eps,
        "min_mantissa": t.min_mantissa,
        "max_mantissa": t.max_mantissa,
    }


def _overflowed(t: FixedType, x: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which values overflow t: their quantised value (at t's resolution) does not fit."""
    import numpy as np

    from hepinfer.fixed import FixedType, Overflow

    with np.errstate(over="ignore", invalid="ignore"):
        huge = ~(np.abs(x) * 2.0**t.frac < 2.0**62)  # also NaN and infinity
    ideal = FixedType(64, 64 - t.frac, True, t.quant, Overflow.SAT).to_mantissa(x)
    out: npt.NDArray[np.bool_] = huge | (ideal < t.min_mantissa) | (ideal > t.max_mantissa)
    return out


def _cast_values(t: FixedType, texts: list[str]) -> list[dict[str, Any]]:
    import numpy as np

    from hepinfer.errors import FixedPointError

    try:
        x = np.array([float(v) for v in texts], dtype=np.float64)
    except ValueError as exc:
        msg = f"cannot read the values {texts!r} as numbers: {exc}"
        raise FixedPointError(msg) from exc
    m = t.to_mantissa(x)
    values = t.from_mantissa(m)
    over = _overflowed(t, x)
    rows = []
    for text, xi, mi, vi, oi in zip(texts, x, m, values, over, strict=True):
        binary, hexa = _bits(int(mi), t.width)
        rows.append(
            {
                "input": text,
                "value": _number(float(vi)),
                "error": _number(float(vi - xi)),
                "mantissa": int(mi),
                "bits": binary,
                "hex": hexa,
                "overflow": bool(oi),
            }
        )
    return rows


def _cast_file(args: argparse.Namespace, t: FixedType) -> dict[str, Any]:
    import numpy as np

    from hepinfer.errors import FixedPointError

    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as exc:
        msg = f"cannot read {args.input!r} as a .npy array: {exc}"
        raise FixedPointError(msg) from exc
    if x.dtype.kind not in "fiub":
        msg = f"{args.input!r} holds {x.dtype} values; a numeric array is needed"
        raise FixedPointError(msg)
    x = x.astype(np.float64, copy=False)
    m = t.to_mantissa(x)
    values = t.from_mantissa(m)
    finite = np.isfinite(x)
    err = np.abs(values - x)[finite]
    summary: dict[str, Any] = {
        "input": str(args.input),
        "shape": list(x.shape),
        "count": int(x.size),
        "overflow_count": int(np.count_nonzero(_overflowed(t, x))),
        "non_finite_count": int(x.size - np.count_nonzero(finite)),
        "max_abs_error": float(err.max()) if err.size else 0.0,
        "rms_error": float(np.sqrt(np.mean(err * err))) if err.size else 0.0,
    }
    if args.output:
        np.save(args.output, m if args.mantissa else values, allow_pickle=False)
        summary["output"] = str(args.output)
        summary["output_kind"] = "int64 mantissas" if args.mantissa else "float64 values"
    return summary


def _text(report: dict[str, Any]) -> str:
    lines: list[str] = []
    out = lines.append
    t = report["type_info"]
    sign = "signed" if t["signed"] else "unsigned"
    out(f"{t['type']}")
    out(
        f"  W={t['width']} I={t['integer']} F={t['frac']} {sign}, {t['quant']}, {t['overflow']}"
        + (f", N={t['sat_bits']}" if t["sat_bits"] else "")
    )
    out(f"  min {t['min']!r}  max {t['max']!r}  eps {t['eps']!r}")
    if "max_exact" in t:  # wider than a double's mantissa: the floats above are rounded
        out(f"  exactly: min {t['min_exact']}  max {t['max_exact']}")
    out(f"  mantissa range [{t['min_mantissa']}, {t['max_mantissa']}]")
    if report.get("values"):
        out("")
        width = max(len(r["input"]) for r in report["values"])
        for r in report["values"]:
            flag = "  OVERFLOW" if r["overflow"] else ""
            out(
                f"  {r['input']:>{width}} -> {r['value']!r:<24} m={r['mantissa']:<8} "
                f"{r['bits']} {r['hex']}{flag}"
            )
    if "file" in report:
        f = report["file"]
        out("")
        out(f"  {f['input']}: {f['count']} values, shape {tuple(f['shape'])}")
        out(f"  overflowed: {f['overflow_count']}  non-finite: {f['non_finite_count']}")
        out(f"  max |error| {f['max_abs_error']!r}  RMS error {f['rms_error']!r}")
        if "output" in f:
            out(f"  wrote {f['output_kind']} to {f['output']}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from hepinfer.fixed import FixedType

    if args.output and not args.input:
        sys.stderr.write("hepinfer fixed: error: -o/--output needs -i/--input\n")
        return 2
    if args.mantissa and not args.output:
        sys.stderr.write("hepinfer fixed: error: --mantissa needs -o/--output\n")
        return 2
    t = FixedType.parse(args.type)
    report: dict[str, Any] = {"type_info": _describe(t)}
    if args.values:
        report["values"] = _cast_values(t, list(args.values))
    if args.input:
        report["file"] = _cast_file(args, t)
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if args.json else _text(report))
    return 0
