"""`hepinfer rtl MODEL -o DIR [--check N] [--synth --part P --jobs N]`: Verilog of a model, proven with
open tools (Verilator simulation against the emulator, Yosys synthesis).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HELP = (
    "write synthesisable Verilog of a model; optionally simulate (Verilator) and synthesise (Yosys)"
)


def configure(parser: argparse.ArgumentParser) -> None:
    from hepinfer.commands.common import add_model_options, jobs

    parser.add_argument(
        "model", help="a directory written by `hepinfer compile`, or a model file (.onnx, ...)"
    )
    parser.add_argument("-o", "--output", required=True, help="output directory of the Verilog")
    add_model_options(parser)
    parser.add_argument("--top", default="hepinfer_top", help="module name (hepinfer_top)")
    parser.add_argument(
        "--clock-period", type=float, help="clock period in ns (default: the configuration's)"
    )
    parser.add_argument(
        "--pipeline",
        type=int,
        help="about this many register stages instead of the clock-period rule (0: none)",
    )
    parser.add_argument(
        "--check",
        type=int,
        metavar="N",
        help="simulate N random inputs with Verilator and compare every bit with the emulator",
    )
    parser.add_argument(
        "--synth", action="store_true", help="synthesise with Yosys (synth_xilinx) and report"
    )
    parser.add_argument("--part", help="FPGA part for --synth (default: the configuration's)")
    parser.add_argument(
        "--jobs",
        type=jobs,
        default=1,
        metavar="N",
        help="--synth with N concurrent Yosys runs, the design cut at its pipeline registers "
        "into pieces (default 1: one flat run; N > 1 is faster, with a few %% more LUTs)",
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import hepinfer
    from hepinfer.commands.common import compile_model, header
    from hepinfer.errors import RtlError
    from hepinfer.rtl import simulate, synthesise

    path = Path(args.model)
    model = hepinfer.load(path) if path.is_dir() else compile_model(args)
    sys.stdout.write(header(model.config, model.graph))
    start = time.perf_counter()
    design = model.write_verilog(
        args.output, top=args.top, clock_period=args.clock_period, pipeline=args.pipeline
    )
    seconds = time.perf_counter() - start
    counts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in design.counts.items())
    sys.stdout.write(
        f"wrote {args.output}/{design.top}.v in {seconds:.2f} s: latency {design.latency} "
        f"cycles, II 1, {counts}\n"
    )
    manifest_path = Path(args.output) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if args.check:
        rng = np.random.default_rng(0)
        mantissas = {}
        inputs = {}
        for node in model.graph.inputs:
            t = node.out.fixed
            assert t is not None
            m = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=(args.check, node.out.size))
            mantissas[node.name] = m
            inputs[node.name] = t.from_mantissa(m).reshape(args.check, *node.out.shape)
        result = simulate(design, mantissas)
        expected = model.predict(inputs if len(inputs) > 1 else next(iter(inputs.values())))
        ref = expected if isinstance(expected, dict) else {model.graph.outputs[0]: expected}
        bad = sum(
            int(np.count_nonzero(result.outputs[k].reshape(v.shape) != v)) for k, v in ref.items()
        )
        total = sum(v.size for v in ref.values())
        sys.stdout.write(
            f"Verilator: {args.check:,} samples, {bad} of {total:,} outputs differ from the "
            f"emulator; measured latency {result.latency} cycles (manifest {design.latency}), "
            f"II {result.ii_max}\n"
        )
        manifest["check"] = {
            "samples": args.check,
            "differing_outputs": bad,
            "latency_cycles": result.latency,
            "ii": result.ii_max,
        }
        if bad or result.latency != design.latency:
            manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
            msg = "the Verilator simulation differs from the emulator"
            raise RtlError(msg)
    if args.synth:
        report = synthesise(design, args.part or model.config.part, jobs=args.jobs)
        sys.stdout.write(report.table() + f"\n  ({report.seconds:.1f} s)\n")
        manifest["synthesis"] = {
            "tool": report.tool,
            "part": report.part,
            "family": report.family,
            "luts": report.luts,
            "inverters": report.inverters,
            "yosys_runs": report.runs,
            "ffs": report.ffs,
            "dsps": report.dsps,
            "carries": report.carries,
            "brams": report.brams,
            "longest_path_cells": report.longest_path_cells,
            "cells": report.cells,
        }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return 0
