"""C simulation: build time and throughput, hepinfer vs hls4ml's `compile()` / `predict()`.

Models (from ../shared/data): the KERAS_3layer jet tagger (16-64-32-32-5 + softmax) and the
deep KERAS_dense_16x100x100x100x100x100x5, model-level `ap_fixed<16,6>`, Latency, RF 1,
io_parallel, in the same run on the same machine:
- hepinfer: `CompiledModel.csim` from an empty cache (render the project, g++ -O2, load,
  run one sample), with hepinfer's own ap_fixed header and with Xilinx's headers (the copy in
  hls4ml's wheel: the headers hls4ml compiles with); then the cached second call; then
  throughput on N inputs (one C ABI call over the batch, best of 3);
- hls4ml 1.3.0 (its venv, a subprocess; KERAS_BACKEND=torch): convert, `compile()` (g++),
  `predict()` on the same N inputs (best rate of 3 runs); outputs checked to be identical
  to hepinfer's C simulation and emulator.

With `--io-type io_stream` both tools write io_stream firmware (hepinfer: one pixel per
stream word, line-buffer Conv1D) for the jet tagger and the KERAS_conv1d_small example
(Conv1D 'same' 10x4 -> Flatten -> Dense), instead of the two dense models.

Run: python benchmarks/bench_hls.py [--n 20000] [--io-type io_parallel|io_stream] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HEPINFER_TEST_DATA", REPO.parent / "shared" / "data"))
PEERS = Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))
KERAS = DATA / "hls4ml-example-models" / "keras"
MODELS = {
    "io_parallel": ("KERAS_3layer", "KERAS_dense_16x100x100x100x100x100x5"),
    "io_stream": ("KERAS_3layer", "KERAS_conv1d_small"),
}
CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}


def hls4ml_config(model: Any) -> dict[str, Any]:
    """hls4ml's per-layer configuration with hepinfer's resolved types (same firmware)."""
    layers = {}
    for node in model.graph.nodes:
        prec = {
            k: str(t)
            for k, t in node.precision.items()
            if k in ("result", "accum", "weight", "bias")
        }
        if prec:
            layers[node.name] = {"Precision": prec}
    return {**CONFIG, "LayerName": layers}


def run_hls4ml(
    name: str, config: dict[str, Any], x_path: Path, work: Path, io_type: str
) -> dict[str, Any]:
    spec = {
        "io_type": io_type,
        "json": str(KERAS / f"{name}.json"),
        "h5": str(KERAS / f"{name}_weights.h5"),
        "hls_config": config,
        "x": str(x_path),
        "y": str(work / "y.npy"),
        "out_dir": str(work / "prj"),
        "result": str(work / "result.json"),
    }
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    helper = Path(__file__).with_name("_hls4ml_jet_tagger.py")
    python = PEERS / "hls4ml" / "bin" / "python"
    proc = subprocess.run(
        [str(python), str(helper), str(work / "spec.json")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    result: dict[str, Any] = json.loads((work / "result.json").read_text())
    result["y"] = np.load(work / "y.npy")
    return result


def bench_hepinfer(
    model: Any, x: np.ndarray, headers: str, cache: Path, io_type: str
) -> dict[str, Any]:
    os.environ["HEPINFER_CACHE"] = str(cache)
    t0 = time.perf_counter()
    model.csim(x[:1], headers=headers, io_type=io_type)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.csim(x[:1], headers=headers, io_type=io_type)
    cached = time.perf_counter() - t0
    rates, y = [], None
    for _ in range(3):
        t0 = time.perf_counter()
        y = model.csim(x, headers=headers, io_type=io_type)
        rates.append(len(x) / (time.perf_counter() - t0))
    return {"build_s": build, "cached_s": cached, "rate": max(rates), "y": y}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--io-type", choices=sorted(MODELS), default="io_parallel")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    import hepinfer

    io_type = args.io_type
    results: dict[str, Any] = {"n": args.n, "io_type": io_type, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in MODELS[io_type]:
            model = hepinfer.compile((KERAS / f"{name}.json", KERAS / f"{name}_weights.h5"), CONFIG)
            shape = model.graph.inputs[0].out.shape
            x = np.random.default_rng(0).standard_normal((args.n, *shape))
            np.save(work / f"x-{name}.npy", x)
            emulator = model.predict(x)
            row: dict[str, Any] = {}
            for headers in ("hepinfer", "xilinx"):
                r = bench_hepinfer(model, x, headers, work / f"cache-{name}-{headers}", io_type)
                r["equals_emulator"] = bool(np.array_equal(r.pop("y"), emulator))
                row[headers] = r
            if (PEERS / "READY-hls4ml").exists():
                sub = work / f"hls4ml-{name}"
                sub.mkdir()
                h = run_hls4ml(name, hls4ml_config(model), work / f"x-{name}.npy", sub, io_type)
                if "y" in h:
                    theirs = h.pop("y")
                    h["equals_hepinfer"] = bool(
                        np.array_equal(theirs, emulator.reshape(len(x), -1))
                    )
                row["hls4ml"] = h
            results["models"][name] = row
            sys.stderr.write(f"{name}: {json.dumps(row)}\n")
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def report(r: dict[str, Any]) -> None:
    out = sys.stdout
    out.write(f"C simulation, {r['n']:,} inputs, ap_fixed<16,6> Latency RF1 {r['io_type']}\n\n")
    out.write(
        "| model | tool | build (s) | build vs hls4ml | cached call (s) | samples/s | "
        "rate vs hls4ml | bit-exact |\n|---|---|---:|---:|---:|---:|---:|---|\n"
    )
    for name, row in r["models"].items():
        h = row.get("hls4ml", {})
        hb, hr = h.get("compile_s"), h.get("predict_rate")
        for headers in ("hepinfer", "xilinx"):
            e = row[headers]
            vs_b = f"{hb / e['build_s']:.1f}x faster" if hb else "-"
            vs_r = f"{e['rate'] / hr:.1f}x" if hr else "-"
            out.write(
                f"| {name} | hepinfer csim ({headers} headers) | {e['build_s']:.2f} | {vs_b} | "
                f"{e['cached_s']:.3f} | {e['rate']:,.0f} | {vs_r} | "
                f"{'yes' if e['equals_emulator'] else 'NO'} (emulator) |\n"
            )
        if hb:
            same = "yes" if h.get("equals_hepinfer") else "NO"
            out.write(
                f"| {name} | hls4ml compile()/predict() | {hb:.2f} | 1.0x | - | {hr:,.0f} | "
                f"1.0x | {same} (vs hepinfer) |\n"
            )
        elif "error" in h:
            out.write(f"| {name} | hls4ml failed: {h['error'][-200:]!r} | | | | | | |\n")


if __name__ == "__main__":
    sys.exit(main())
