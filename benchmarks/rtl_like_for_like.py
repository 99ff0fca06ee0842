"""hepinfer's and da4ml 0.6.0's Verilog of the same arithmetic, synthesised by the same Yosys.

usage:
    python -m venv /tmp/da4ml-venv && /tmp/da4ml-venv/bin/pip install da4ml==0.6.0
    python benchmarks/rtl_like_for_like.py --da4ml-python /tmp/da4ml-venv/bin/python OUT_DIR
    python benchmarks/rtl_like_for_like.py --no-da4ml --no-synth --verilator 10000 OUT_DIR

The KERAS_3layer jet tagger's Dense/ReLU chain (../shared/data) with ap_fixed<16,6> weights,
inputs and results, as `bench_rtl.py`'s da4ml spec builds it. da4ml sums the exact products and
casts once, with no DSP; hepinfer's default at this configuration truncates every product to
accum_t ap_fixed<16,6> and puts 1,704 products on DSPs. So hepinfer is configured like da4ml
here: an exact accumulator (`accum: auto`) and every product from shifts and adds
(`MultiplierRule(max_adders=99)`). Both designs go through `hepinfer.rtl.synth.synthesise_files`
(the same Yosys script), one after the other, and print one JSON line each.

`--verilator N` also streams N random inputs (N(0, 1.5), quantised to the input type) through
hepinfer's design in Verilator (the default quick -O0 build) and counts the outputs that differ
from the emulator's (the same chain: exact accumulators, every product from shifts and adds, no
softmax), with the latency Verilator measures beside the manifest's; `--no-synth --no-da4ml`
runs that check alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import hepinfer
from hepinfer.compiled import CompiledModel
from hepinfer.ir.graph import Graph
from hepinfer.netlist import MultiplierRule
from hepinfer.rtl import RtlDesign, build, simulate
from hepinfer.rtl.synth import synthesise_files

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_rtl import DATA, da4ml_spec, dense_chain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for both designs")
    parser.add_argument("--da4ml-python", help="python with da4ml 0.6.0")
    parser.add_argument("--no-da4ml", action="store_true", help="hepinfer's design only")
    parser.add_argument(
        "--verilator", type=int, default=0, metavar="N", help="check N inputs in Verilator"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--part", default="xcvu13p", help="part for Yosys")
    parser.add_argument("--no-synth", action="store_true", help="write the Verilog only")
    args = parser.parse_args()
    keras = args.data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json"
    config = {"Model": {"Precision": {"default": "ap_fixed<16,6>", "accum": "auto"}}}
    model = hepinfer.compile(keras, config)
    chain = dense_chain(model.graph)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    design = build(
        chain, clock_period=model.config.clock_period, rule=MultiplierRule(max_adders=99)
    )
    ours = args.out / "hepinfer" / "hepinfer_top.v"
    ours.parent.mkdir(exist_ok=True)
    ours.write_text(design.verilog)
    rows: dict[str, Any] = {
        "hepinfer": {
            "generate_s": time.perf_counter() - start,
            "latency_cycles": design.latency,
            "counts": design.counts,
        }
    }
    if args.verilator:
        rows["hepinfer"]["verilator"] = check(model, chain, design, args.verilator)
    if args.no_da4ml or not args.da4ml_python:
        if not args.no_synth:
            report = synthesise_files([ours], design.top, args.part, timeout=7200)
            rows["hepinfer"]["synth"] = dataclasses.asdict(report)
        print(json.dumps(rows), flush=True)
        return 0
    spec, weights = da4ml_spec(chain, model.config.clock_period)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "spec.json").write_text(json.dumps(spec))
        savez: Any = np.savez
        savez(Path(tmp, "w.npz"), **weights)
        start = time.perf_counter()
        done = subprocess.run(
            [
                args.da4ml_python,
                str(HERE / "da4ml_dense_chain.py"),
                f"{tmp}/spec.json",
                f"{tmp}/w.npz",
                str(args.out / "da4ml"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    info = json.loads(done.stdout.strip().splitlines()[-1])
    theirs = [f for f in info["files"] if "lookup_table" not in f and "wrapper" not in f]
    rows["da4ml"] = {
        "generate_s": time.perf_counter() - start,
        "latency_cycles": info["stages"] + 1,  # input register, stages, output register
    }
    for name, files, top in (
        ("hepinfer", [ours], design.top),
        ("da4ml", theirs, info["top"]),
    ):
        if not args.no_synth:
            report = synthesise_files(files, top, args.part, timeout=7200)
            rows[name]["synth"] = dataclasses.asdict(report)
        print(json.dumps({name: rows[name]}), flush=True)
    return 0


def check(model: CompiledModel, chain: Graph, design: RtlDesign, n: int) -> dict[str, Any]:
    """Verilator against the emulator on `n` random inputs of the chain: differing outputs,
    the measured latency and initiation interval, build and run times.
    """
    x = np.random.default_rng(0).normal(0, 1.5, size=(n, chain.inputs[0].out.size))
    t_in = chain.inputs[0].out.fixed
    assert t_in is not None
    start = time.perf_counter()
    simulate(design, {chain.inputs[0].name: t_in.to_mantissa(x[:1])})  # the build
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    result = simulate(design, {chain.inputs[0].name: t_in.to_mantissa(x)})
    run_s = time.perf_counter() - start
    expected = np.asarray(dataclasses.replace(model, graph=chain).predict(x))
    got = result.outputs[chain.outputs[0]].reshape(np.shape(expected))
    return {
        "samples": n,
        "outputs": int(np.size(expected)),
        "differing": int(np.count_nonzero(got != expected)),
        "latency_manifest": design.latency,
        "latency_measured": result.latency,
        "ii_measured": [result.ii_min, result.ii_max],
        "build_s": build_s,
        "run_s": run_s,
    }


if __name__ == "__main__":
    raise SystemExit(main())
