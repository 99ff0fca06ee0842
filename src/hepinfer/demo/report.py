"""The demo's report: `report.md` and `report.html` rendered from the template files in
`templates/` with every figure the run measured, and the console summary table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hepinfer.bench.scan import ScanResult
    from hepinfer.demo.firmware import FirmwareResult, OpenFirmware
    from hepinfer.demo.service import DirectResult, ServedCheck
    from hepinfer.estimate.report import Estimate

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ModelInfo:
    """Where the model came from and how it was trained (None: the user's own model)."""

    source: str
    path: Path
    n_train: int | None
    n_test: int
    train_seconds: float | None


@dataclass
class DemoResults:
    """Everything one run measured, filled step by step."""

    command: str
    settings: dict[str, Any]
    model: ModelInfo
    firmware: FirmwareResult
    served_models: list[str] = field(default_factory=list)
    firmware_served: bool = False
    checks: list[ServedCheck] = field(default_factory=list)
    scans: dict[str, ScanResult] = field(default_factory=dict)
    direct: list[DirectResult] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def summary_rows(r: DemoResults) -> list[tuple[str, str]]:
    """(what, value) rows of the summary table (console and report)."""
    fw = r.firmware
    est = fw.estimate
    rows = [
        ("model", r.model.source),
        ("float accuracy (test set)", _pct(fw.float_accuracy)),
        (f"fixed accuracy at {r.settings['precision']}", _pct(fw.fixed_accuracy)),
        ("argmax agreement fixed vs float", _pct(fw.argmax_agreement)),
        (
            "C simulation vs emulator",
            f"{fw.csim_differing} differing outputs of {fw.csim_samples * _width(fw)}",
        ),
        (
            f"latency on {r.settings['part']} @ {est.clock_period:g} ns",
            f"{est.latency_cycles} cycles = {est.latency_ns:g} ns, II {est.ii}",
        ),
        ("resources", _resources(est)),
        *_open_rows(fw.open_firmware),
    ]
    rows += [
        (f"served {c.model} vs direct", f"{c.differing} differing outputs ({c.samples} events)")
        for c in r.checks
    ]
    for name, s in r.scans.items():
        best = max(p.server_inferences_per_s for p in s.points)
        sat = sustained_saturation(s)
        where = (
            f"saturates at {sat} jobs"
            if sat
            else f"not saturated up to {s.points[-1].clients} jobs"
        )
        rows.append((f"scan {name}", f"max {best:,.0f} inf/s; {where}"))
    rows += [(f"direct {d.name}", _direct(d)) for d in r.direct]
    return rows


def sustained_saturation(result: ScanResult) -> int | None:
    """The fewest jobs from which on every point of the scan is below the saturation
    threshold (a single slow point below it, e.g. from other load on the machine, is not
    saturation); None when the last point keeps up.
    """
    threshold = result.options.saturation_threshold
    found = None
    for point in reversed(result.points):
        if point.efficiency >= threshold:
            break
        found = point.clients
    return found


def _resources(est: Estimate) -> str:
    util = est.utilisation
    return (
        f"DSP {est.total.dsp} ({util['dsp']:.1f} %), LUT {est.total.lut} "
        f"({util['lut']:.1f} %), FF {est.total.ff} ({util['ff']:.1f} %)"
    )


def _direct(d: DirectResult) -> str:
    return (
        f"{d.batch1_per_s:,.0f} events/s one at a time, "
        f"{d.batched_per_s:,.0f}/s in batches of {d.batch_size}"
    )


def _width(fw: FirmwareResult) -> int:
    graph = fw.model.graph
    shape = graph.node(graph.outputs[0]).out.shape
    n = 1
    for d in shape:
        n *= int(d)
    return n


def format_summary(r: DemoResults) -> str:
    rows = summary_rows(r)
    w = max(len(a) for a, _ in rows)
    line = "-" * (w + 2 + max(len(b) for _, b in rows))
    return "\n".join([line, *(f"{a:<{w}}  {b}" for a, b in rows), line])


def _open_rows(of: OpenFirmware | None) -> list[tuple[str, str]]:
    """The "open firmware" rows: Verilator against the emulator and Yosys' cells."""
    if of is None:
        return []
    rows = []
    if of.samples:
        rows.append(
            (
                "Verilog (Verilator) vs emulator",
                (
                    f"{of.differing} differing outputs ({of.samples} events); latency "
                    f"{of.latency} cycles (manifest {of.manifest_latency}), II 1"
                ),
            )
        )
    if of.luts is not None:
        rows.append(
            (
                "Yosys synth_xilinx",
                (
                    f"{of.luts:,} LUT, {of.ffs:,} FF, {of.dsps:,} DSP, {of.carries:,} CARRY; "
                    f"longest path {of.longest_path_cells} cells"
                ),
            )
        )
    if of.note:
        rows.append(("open firmware", of.note))
    return rows


def summary_dict(r: DemoResults) -> dict[str, Any]:
    """The headline figures, for `summary.json` (machines, tests)."""
    fw = r.firmware
    est = fw.estimate
    return {
        "command": r.command,
        "settings": r.settings,
        "float_accuracy": fw.float_accuracy,
        "fixed_accuracy": fw.fixed_accuracy,
        "argmax_agreement": fw.argmax_agreement,
        "csim_samples": fw.csim_samples,
        "csim_differing": fw.csim_differing,
        "latency_cycles": est.latency_cycles,
        "latency_ns": est.latency_ns,
        "ii": est.ii,
        "dsp": est.total.dsp,
        "utilisation": est.utilisation,
        "firmware_served": r.firmware_served,
        "served": {c.model: {"samples": c.samples, "differing": c.differing} for c in r.checks},
        "scans": {
            name: {
                "clients": [p.clients for p in s.points],
                "server_inferences_per_s": [p.server_inferences_per_s for p in s.points],
                "p99_us": [p.p99_us for p in s.points],
                "failures": sum(p.failures for p in s.points),
                "saturation_clients": sustained_saturation(s),
            }
            for name, s in r.scans.items()
        },
        "direct": {
            d.name: {"batch1_per_s": d.batch1_per_s, "batched_per_s": d.batched_per_s}
            for d in r.direct
        },
        "step_seconds": r.step_seconds,
        "open_firmware": _open_dict(fw.open_firmware),
    }


def _open_dict(of: OpenFirmware | None) -> dict[str, Any] | None:
    if of is None:
        return None
    return {
        "samples": of.samples,
        "differing": of.differing,
        "latency_cycles": of.latency,
        "manifest_latency_cycles": of.manifest_latency,
        "luts": of.luts,
        "ffs": of.ffs,
        "dsps": of.dsps,
        "carries": of.carries,
        "longest_path_cells": of.longest_path_cells,
        "note": of.note,
    }


def render(r: DemoResults, out: Path) -> list[Path]:
    """Write report.md, report.html and summary.json into `out`; returns their paths."""
    import json

    import jinja2

    from hepinfer.bench import format_scan_table

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    context = {
        "r": r,
        "summary": summary_rows(r),
        "scan_tables": {k: format_scan_table(v) for k, v in r.scans.items()},
        "pct": _pct,
        "outputs": _width(r.firmware),
    }
    paths = []
    for name in ("report.md", "report.html"):
        text = env.get_template(f"{name}.jinja").render(**context)
        (out / name).write_text(text)
        paths.append(out / name)
    (out / "summary.json").write_text(json.dumps(summary_dict(r), indent=1) + "\n")
    paths.append(out / "summary.json")
    return paths
