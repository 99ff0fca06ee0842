"""Yosys on the generated design cut at its pipeline registers (`synthesise(jobs=N)`), against
the flat flow, on the same Verilog.

usage:
    python benchmarks/yosys_stages.py OUT_DIR [--model KERAS_3layer] [--weights W.h5]
        [--jobs 2] [--per-stage] [--no-flat]

The split is `hepinfer.rtl.pieces.split` (consecutive stages grouped for `--jobs` concurrent
Yosys runs; `--per-stage` also runs one piece per stage); every run uses
`hepinfer.rtl.synth.synth_script`. CPU = user + system of every Yosys run and its ABC child;
wall = the whole synthesis. The flat run goes last (after the parallel ones), alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from hepinfer.rtl.pieces import split
from hepinfer.rtl.synth import SynthReport, synthesise, synthesise_pieces

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rtl import DATA


def summary(report: SynthReport) -> dict[str, Any]:
    """LUT (LUT1-6), INV, FF, DSP, CARRY4, the LUT sizes, CPU and wall seconds."""
    cells = report.cells
    out: dict[str, Any] = {k: cells.get(k, 0) for k in ("LUT2", "LUT3", "LUT4", "LUT5", "LUT6")}
    out["LUT"] = report.luts
    out["INV"] = cells.get("INV", 0)
    out["FF"] = report.ffs
    out["DSP"] = report.dsps
    out["CARRY4"] = report.carries
    out["MUXF7-9"] = sum(v for k, v in cells.items() if re.fullmatch(r"MUXF[789]", k))
    out["BRAM"] = report.brams
    out["longest_path_cells"] = report.longest_path_cells
    out["cpu_s"] = round(report.cpu_seconds, 1)
    out["wall_s"] = round(report.seconds, 1)
    out["load_after"] = round(os.getloadavg()[0], 2)
    return out


def main() -> int:
    import hepinfer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="work folder (Verilog, results)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--model", default="KERAS_3layer", help="Keras example (JSON name)")
    parser.add_argument(
        "--weights",
        default="KERAS_3layer_weights.h5",
        help="its weights file (KERAS_3layer_70pruned_retrained_weights.h5: the pruned tagger)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="concurrent Yosys runs (2)")
    parser.add_argument("--per-stage", action="store_true", help="also one piece per stage")
    parser.add_argument("--no-flat", action="store_true", help="skip the flat run")
    args = parser.parse_args()
    folder = args.data / "hls4ml-example-models" / "keras"
    source = (folder / f"{args.model}.json", folder / args.weights)
    model = hepinfer.compile(source, hepinfer.config_from_model(source))
    design = model.rtl_design()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{design.top}.v").write_text(design.verilog)
    rows: dict[str, Any] = {"latency": design.latency, "counts": design.counts}
    parts = split(design.verilog, design.top, args.jobs)
    rows["pieces"] = [{"stages": list(p.stages), "kb": round(p.size / 1e3)} for p in parts.pieces]
    print(json.dumps({"pieces": rows["pieces"]}), flush=True)
    rows[f"jobs{args.jobs}"] = summary(synthesise(design, "xcvu13p", jobs=args.jobs))
    print(json.dumps({f"jobs{args.jobs}": rows[f"jobs{args.jobs}"]}), flush=True)
    if args.per_stage:
        staged = synthesise_pieces(split(design.verilog, design.top), "xcvu13p", jobs=args.jobs)
        rows["per_stage"] = summary(staged)
        print(json.dumps({"per_stage": rows["per_stage"]}), flush=True)
    if not args.no_flat:
        rows["flat"] = summary(synthesise(design, "xcvu13p"))
        print(json.dumps({"flat": rows["flat"]}), flush=True)
    (args.out / "yosys_stages.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
