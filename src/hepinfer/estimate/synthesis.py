"""Vendor synthesis reports, read into the estimate's terms: estimate vs synthesis side by side.

Two formats:

- **Vitis HLS / Vivado HLS `csynth.xml`** (`<prj>/solution1/syn/report/<top>_csynth.xml`): the
  `<profile>` document with `UserAssignments` (Part, TargetClockPeriod), `PerformanceEstimates`
  (EstimatedClockPeriod, Best/Worst-caseLatency, Interval-min/max in cycles) and
  `AreaEstimates/Resources` (BRAM_18K, DSP or Vivado HLS's DSP48E, FF, LUT, URAM).
- **Vivado `report_utilization`** text (hls4ml's `vivado_synth.rpt`, or any `*utilization*.rpt`):
  `| Site Type | Used | Fixed | ... |` tables; rows `CLB LUTs` / `Slice LUTs`, `CLB Registers` /
  `Slice Registers`, `Block RAM Tile` (one 36 Kb tile = two 18 Kb BRAMs), `URAM`, `DSPs` /
  `DSP48E2`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hepinfer.errors import EstimateError

if TYPE_CHECKING:
    from hepinfer.estimate.report import Estimate

__all__ = ["SynthesisReport", "compare_table", "find_reports", "read_csynth", "read_utilization"]

KEYS = ("dsp", "lut", "ff", "bram18k", "uram")


@dataclass(frozen=True)
class SynthesisReport:
    """Resources (and, from HLS, latency/II in cycles) that a vendor tool reported."""

    source: Path
    tool: str  # 'hls' (csynth.xml) or 'vivado' (report_utilization)
    resources: dict[str, int] = field(default_factory=dict)
    part: str | None = None
    clock_period: float | None = None
    estimated_clock: float | None = None
    latency: tuple[int, int] | None = None  # best, worst case (cycles)
    ii: tuple[int, int] | None = None  # min, max


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(float(text.strip()))
    except ValueError:
        return None  # 'undef' / '-' in reports of designs that are not pipelined


def _float(text: str | None) -> float | None:
    try:
        return None if text is None else float(text.strip())
    except ValueError:
        return None


def read_csynth(path: str | Path) -> SynthesisReport:
    """Read a Vitis HLS / Vivado HLS `csynth.xml` report."""
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except (OSError, ET.ParseError) as exc:
        msg = f"{p}: cannot read an HLS csynth.xml report ({exc})"
        raise EstimateError(msg) from exc
    area = root.find("AreaEstimates/Resources")
    if area is None:
        msg = f"{p}: no AreaEstimates/Resources; is this a Vitis HLS csynth.xml report?"
        raise EstimateError(msg)
    names = {"dsp": ("DSP", "DSP48E"), "lut": ("LUT",), "ff": ("FF",)}
    names |= {"bram18k": ("BRAM_18K",), "uram": ("URAM",)}
    resources = {}
    for key, tags in names.items():
        for tag in tags:
            value = _int(area.findtext(tag))
            if value is not None:
                resources[key] = value
                break
    lat = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    latency = ii = None
    if lat is not None:
        best, worst = (
            _int(lat.findtext("Best-caseLatency")),
            _int(lat.findtext("Worst-caseLatency")),
        )
        if best is not None and worst is not None:
            latency = (best, worst)
        lo, hi = _int(lat.findtext("Interval-min")), _int(lat.findtext("Interval-max"))
        if lo is not None and hi is not None:
            ii = (lo, hi)
    return SynthesisReport(
        source=p,
        tool="hls",
        resources=resources,
        part=root.findtext("UserAssignments/Part"),
        clock_period=_float(root.findtext("UserAssignments/TargetClockPeriod")),
        estimated_clock=_float(
            root.findtext("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")
        ),
        latency=latency,
        ii=ii,
    )


_ROWS = {
    "lut": ("CLB LUTs", "Slice LUTs"),
    "ff": ("CLB Registers", "Slice Registers"),
    "bram_tile": ("Block RAM Tile",),
    "uram": ("URAM",),
    "dsp": ("DSPs", "DSP48E2", "DSP48E1"),
}


def read_utilization(path: str | Path) -> SynthesisReport:
    """Read a Vivado `report_utilization` text report (after synthesis or implementation)."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        msg = f"{p}: cannot read a Vivado utilisation report ({exc})"
        raise EstimateError(msg) from exc
    found: dict[str, int] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        label = cells[0].rstrip("*").strip()
        value = _float(cells[1])
        for key, labels in _ROWS.items():
            if label in labels and key not in found and value is not None:
                found[key] = round(value * 2) if key == "bram_tile" else int(value)
    if not found:
        msg = f"{p}: no 'Site Type | Used' rows; is this a Vivado report_utilization file?"
        raise EstimateError(msg)
    resources = {("bram18k" if k == "bram_tile" else k): v for k, v in found.items()}
    part = re.search(r"\|\s*Device\s*:\s*(\S+)", text)
    return SynthesisReport(p, "vivado", resources, part=part.group(1) if part else None)


def find_reports(project: str | Path) -> list[SynthesisReport]:
    """Every csynth.xml and Vivado utilisation report under an HLS project directory."""
    root = Path(project)
    if not root.is_dir():
        msg = f"{root} is not a directory; give the HLS project directory (hepinfer hls -o DIR)"
        raise EstimateError(msg)
    reports = [read_csynth(p) for p in sorted(root.rglob("*csynth.xml"))]
    rpts = {*root.rglob("vivado_synth.rpt"), *root.rglob("*utilization*.rpt")}
    reports += [read_utilization(p) for p in sorted(rpts)]
    if not reports:
        msg = (
            f"no synthesis report under {root}: run `vitis_hls -f build.tcl` there first "
            "(it writes <prj>/solution1/syn/report/<top>_csynth.xml)"
        )
        raise EstimateError(msg)
    return reports


def _error(estimate: int, reported: int | None) -> str:
    if reported is None:
        return "-"
    if reported == 0:
        return "exact" if estimate == 0 else "-"
    return f"{100.0 * (estimate - reported) / reported:+.0f}%"


def compare_table(estimate: Estimate | None, reports: list[SynthesisReport]) -> str:
    """Estimate vs every report, one row per resource (and latency, II), with the error."""
    header = ["", *(["estimate"] if estimate else [])]
    for r in reports:
        header += [f"{r.tool} ({r.source.name})"] + (["error"] if estimate else [])
    rows = [header]
    names = {"dsp": "DSP", "lut": "LUT", "ff": "FF", "bram18k": "BRAM18K", "uram": "URAM"}
    for key in KEYS:
        ours = getattr(estimate.total, key) if estimate else None
        row = [names[key], *([f"{ours:,}"] if ours is not None else [])]
        for r in reports:
            value = r.resources.get(key)
            row.append("-" if value is None else f"{value:,}")
            if ours is not None:
                row.append(_error(ours, value))
        rows.append(row)
    for label, attr, index in (("latency (cycles)", "latency", 1), ("II (cycles)", "ii", 0)):
        ours = (
            getattr(estimate, "latency_cycles" if attr == "latency" else "ii") if estimate else None
        )
        row = [label, *([str(ours)] if ours is not None else [])]
        for r in reports:
            pair = getattr(r, attr)
            row.append("-" if pair is None else str(pair[index]))
            if ours is not None:
                row.append(_error(ours, None if pair is None else pair[index]))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in reports:
        extra = [f"part {r.part}"] if r.part else []
        if r.clock_period is not None:
            extra.append(f"target clock {r.clock_period:g} ns")
        if r.estimated_clock is not None:
            extra.append(f"estimated clock {r.estimated_clock:g} ns")
        lines.append(f"{r.tool}: {r.source}" + (f" ({', '.join(extra)})" if extra else ""))
    return "\n".join(lines)
