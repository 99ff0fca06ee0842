"""`hepinfer demo`: the main job of `make demo` (interim version, fixed-point only).

Generates a realistic jet-feature-like data set (the 16 high-level features of the hls4ml LHC
jet tagging data, with their physical scales), casts it to `ap_fixed<W,I>` over a scan of
widths, integer bits and quantisation/overflow modes (plus per-feature integer bits chosen by
`fit_type`), and writes the quantisation error / overflow table, a plot and a Markdown report
to the output folder. The full model -> firmware -> service demo replaces it later.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from hepinfer.fixed.scan import ScanPoint, ScanResult

HELP = "run the demo: quantise jet-feature-like data over a scan of ap_fixed precisions (report)"

FEATURES = (
    "zlogz",
    "c1_b0_mmdt",
    "c1_b1_mmdt",
    "c1_b2_mmdt",
    "c2_b1_mmdt",
    "c2_b2_mmdt",
    "d2_b1_mmdt",
    "d2_b2_mmdt",
    "d2_a1_b1_mmdt",
    "d2_a1_b2_mmdt",
    "m2_b1_mmdt",
    "m2_b2_mmdt",
    "n2_b1_mmdt",
    "n2_b2_mmdt",
    "mass_mmdt",
    "multiplicity",
)
CLASSES = ("g", "q", "W", "Z", "t")
#: (quantisation, overflow) modes of the scan; the first is Vivado/hls4ml's default
MODES = (("TRN", "WRAP"), ("TRN", "SAT"), ("RND", "SAT"), ("RND_CONV", "SAT"))
GLOBAL_INTEGER_BITS = (6, 10)
TARGET_REL_RMS = 0.01


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", default="demo-output", help="output folder (default: demo-output)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="10k samples and a coarse scan (a few seconds)"
    )
    parser.add_argument("--samples", type=int, help="number of jets (default 100000, quick 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the generated data")


def jet_like_features(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """n jets x 16 features shaped like the hls4ml LHC jet data (before normalisation):
    energy-correlation ratios in [0, 1), positive heavy-tailed D2 values, a negative zlogz,
    the groomed mass in GeV with W/Z/top peaks and the constituent multiplicity."""
    import numpy as np

    label = rng.integers(0, len(CLASSES), size=n)
    cols = [
        -np.clip(rng.gamma(2.0, 1.2, n), 0.0, 10.0),
        rng.beta(2, 6, n) * 0.6,
        rng.beta(2, 8, n) * 0.3,
        rng.beta(2, 10, n) * 0.15,
        rng.beta(2, 5, n) * 0.6,
        rng.beta(2, 6, n) * 0.4,
        rng.lognormal(0.7, 0.6, n),
        rng.lognormal(0.4, 0.6, n),
        rng.lognormal(0.8, 0.5, n),
        rng.lognormal(0.5, 0.5, n),
        rng.beta(2, 20, n) * 0.5,
        rng.beta(2, 30, n) * 0.3,
        rng.beta(3, 5, n) * 0.8,
        rng.beta(3, 6, n) * 0.6,
    ]
    peak = np.array([25.0, 20.0, 80.4, 91.2, 172.5])[label]
    width = np.array([0.6, 0.6, 0.1, 0.1, 0.09])[label]
    log_mass = label < 2
    mass = np.where(
        log_mass,
        rng.lognormal(np.log(peak), width),
        rng.normal(peak, width * peak),
    )
    cols.append(np.clip(mass, 0.0, None))
    cols.append(rng.poisson(np.array([45.0, 30.0, 35.0, 37.0, 55.0])[label]).astype(np.float64))
    return np.stack(cols, axis=1)


def _scan_points(x: npt.NDArray[np.float64], widths: list[int], progress: bool) -> list[ScanPoint]:
    from tqdm import tqdm

    from hepinfer.fixed import FixedType, Overflow, Quant, fit_type
    from hepinfer.fixed.scan import ScanPoint

    points = []
    for w in widths:
        for integer in GLOBAL_INTEGER_BITS:
            for q, o in MODES:
                t = FixedType(w, integer, quant=Quant(q), overflow=Overflow(o))
                points.append(ScanPoint(f"ap_fixed<W,{integer}> {q}/{o}", w, (t,) * x.shape[1]))
    for w in tqdm(widths, desc="fit_type per feature", disable=not progress, leave=False):
        types = tuple(
            fit_type(col, width=w, signed=True, quant=Quant.RND, overflow=Overflow.SAT)
            for col in x.T
        )
        points.append(ScanPoint("per-feature I (fit_type) RND/SAT", w, types))
    return points


def _plot(results: list[ScanResult], path: Path) -> None:
    try:
        import matplotlib as mpl
    except ImportError as exc:
        from hepinfer.errors import MissingDependencyError

        package, extra = "matplotlib", "compile"
        raise MissingDependencyError(package, extra, "the demo's plot") from exc
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r.point.label for r in results))
    fig, (ax_err, ax_over) = plt.subplots(1, 2, figsize=(13, 5))
    for i, label in enumerate(labels):
        rows = [r for r in results if r.point.label == label]
        w = [r.point.width for r in rows]
        style: dict[str, Any] = {"color": f"C{i % 4}", "marker": "osv^"[i % 4], "ms": 4}
        if "fit_type" in label:
            style.update(color="black", lw=2.5, marker="o")
        style["ls"] = ":" if "<W,6>" in label else "-"
        ax_err.plot(w, [r.stats.rel_rms for r in rows], label=label, **style)
        ax_over.plot(w, [100 * r.stats.overflow_rate for r in rows], **style)
    ax_err.set_yscale("log")
    ax_err.axhline(TARGET_REL_RMS, color="grey", lw=0.8, ls="--")
    ax_err.set_xlabel("total width W [bits]")
    ax_err.set_ylabel("RMS quantisation error / feature std (mean over features)")
    ax_over.set_xlabel("total width W [bits]")
    ax_over.set_ylabel("values that overflow [%]")
    ax_err.legend(fontsize=7)
    for ax in (ax_err, ax_over):
        ax.grid(alpha=0.3)
    fig.suptitle("Jet features cast to fixed point: error and overflow vs width")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _first_good(results: list[ScanResult], label: str) -> ScanResult | None:
    for r in results:
        good = r.stats.rel_rms < TARGET_REL_RMS and r.stats.overflow_rate == 0.0
        if r.point.label == label and good:
            return r
    return None


def _intro(x: npt.NDArray[np.float64]) -> list[str]:
    return [
        "# hepinfer demo: fixed-point precision scan",
        "",
        (
            f"{x.shape[0]:,} generated jets x {x.shape[1]} features shaped like the hls4ml LHC "
            "jet data (energy-correlation ratios, D2, zlogz, groomed mass in GeV, multiplicity),"
            " cast to Xilinx `ap_fixed<W,I,Q,O>` with `hepinfer.fixed` (bit-exact with Vitis HLS)."
        ),
        "",
        (
            "Cell: RMS quantisation error / feature standard deviation (mean over features); "
            "`(o x%)`: share of values that overflow."
        ),
        "",
    ]


def _table(results: list[ScanResult], labels: list[str], widths: list[int]) -> list[str]:
    lines = [
        "| precision / mode | " + " | ".join(f"W={w}" for w in widths) + " |",
        "|---|" + "---|" * len(widths),
    ]
    for label in labels:
        cells = []
        for w in widths:
            r = next(r for r in results if r.point.label == label and r.point.width == w)
            over = r.stats.overflow_rate
            cells.append(f"{r.stats.rel_rms:.2e}" + (f" (o {100 * over:.2g}%)" if over else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _narrowest(results: list[ScanResult], labels: list[str]) -> list[str]:
    lines = [f"## Narrowest precision with error below {TARGET_REL_RMS:.0%} and no overflow", ""]
    for label in labels:
        good = _first_good(results, label)
        if good is None:
            lines.append(f"- {label}: none in the scan")
        else:
            names = sorted({str(t) for t in good.point.types})
            shown = names[0] if len(names) == 1 else f"{len(names)} types, e.g. {names[0]}"
            lines.append(f"- {label}: W={good.point.width} ({shown})")
    return lines


def _report(
    results: list[ScanResult],
    x: npt.NDArray[np.float64],
    args: argparse.Namespace,
    seconds: float,
    casts: int,
) -> str:
    labels = list(dict.fromkeys(r.point.label for r in results))
    widths = sorted({r.point.width for r in results})
    lines = [
        *_intro(x),
    ]
    lines += _table(results, labels, widths)
    lines += ["", *_narrowest(results, labels)]
    lines += [
        "",
        "![error and overflow vs width](quantisation_error.png)",
        "",
        "Full results: `scan.csv`. Feature ranges:",
        "",
        "| feature | min | max | std |",
        "|---|---|---|---|",
    ]
    for name, col in zip(FEATURES, x.T, strict=True):
        lines.append(f"| {name} | {col.min():.4g} | {col.max():.4g} | {col.std():.4g} |")
    quick = " --quick" if args.quick else ""
    lines += [
        "",
        (
            f"{casts:,} casts in {seconds:.2f} s. Reproduce with "
            f"`hepinfer demo -o {args.output}{quick} --seed {args.seed}`."
        ),
        "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from hepinfer.errors import HepinferError
    from hepinfer.fixed.scan import precision_scan

    n = args.samples or (10_000 if args.quick else 100_000)
    if n < 2:
        msg = f"--samples must be at least 2, got {n}"
        raise HepinferError(msg)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    widths = [6, 10, 14, 18, 22] if args.quick else list(range(4, 33, 2))
    progress = sys.stderr.isatty()
    x = jet_like_features(n, np.random.default_rng(args.seed))
    start = time.perf_counter()
    points = _scan_points(x, widths, progress)
    results = precision_scan(
        x, points, progress=lambda p: tqdm(p, desc="precision scan", disable=None)
    )
    seconds = time.perf_counter() - start
    casts = 2 * x.size * len(points)  # each point: the cast and its no-overflow reference

    with (out / "scan.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["precision", "width", "types", "rel_rms", "max_abs", "overflow_rate"])
        for r in results:
            types = ";".join(sorted({str(t) for t in r.point.types}))
            s = r.stats
            writer.writerow(
                [r.point.label, r.point.width, types, s.rel_rms, s.max_abs, s.overflow_rate]
            )
    _plot(results, out / "quantisation_error.png")
    report = _report(results, x, args, seconds, casts)
    (out / "report.md").write_text(report)
    labels = list(dict.fromkeys(r.point.label for r in results))
    shown = widths if len(widths) <= 6 else widths[::3]
    console = [*_intro(x), *_table(results, labels, shown), "", *_narrowest(results, labels)]
    console[-len(labels) - 2] = console[-len(labels) - 2].removeprefix("## ") + ":"
    console.append(f"\nReport (all widths), plot and table written to {out}/")
    sys.stdout.write("\n".join(console) + "\n")
    return 0
