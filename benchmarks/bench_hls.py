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

`--models all` (io_parallel) runs every shared example model (keras/*.json, qkeras_3layer
through hls4ml's QKeras support, onnx/conv2d_small_keras.onnx: hls4ml gets it rebuilt in
Keras from its arrays) and issue 15's two models, built with random weights in the hls4ml
peer's Keras 3 and saved as `.keras` files for both tools: the Conv2D jet-image tagger
(`conv2d_jet`) and the MLP 16x500x500x500x500x500x5 (`mlp500`, 2,000 inputs). Rates are
also given per CPU second of the process (hepinfer's C call and hls4ml's `predict()` both run
on one thread), which other load on a shared machine inflates less than wall-clock time.

Run: python benchmarks/bench_hls.py [--n 20000] [--io-type io_parallel|io_stream]
     [--models all|NAME,NAME...] [--json out.json]
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
ONNX = DATA / "hls4ml-example-models" / "onnx"
MODELS = {
    "io_parallel": ("KERAS_3layer", "KERAS_dense_16x100x100x100x100x100x5"),
    "io_stream": ("KERAS_3layer", "KERAS_conv1d_small"),
}
#: `--models all`: every shared example model and issue 15's two (io_parallel)
ALL = (
    "KERAS_1layer",
    "KERAS_3layer",
    "KERAS_3layer_batch_norm",
    "KERAS_conv1d_small",
    "KERAS_dense_16x100x100x100x100x100x5",
    "qkeras_3layer",
    "conv2d_small_keras",
    "conv2d_jet",
    "mlp500",
)
MADE = ("conv2d_jet", "mlp500")  # built in the hls4ml peer (random weights)
MAX_N = {"mlp500": 2_000}  # hls4ml's predict() runs ~100 of these per second
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


def peer_python(name: str) -> Path:
    """The python of the peer that converts `name` (QKeras models: the qkeras peer)."""
    peer = "qkeras" if name.startswith("qkeras") else "hls4ml"
    return PEERS / peer / "bin" / "python"


def run_hls4ml(
    name: str,
    source: dict[str, str],
    config: dict[str, Any],
    x_path: Path,
    work: Path,
    io_type: str,
) -> dict[str, Any]:
    spec = {
        "io_type": io_type,
        **source,
        "hls_config": config,
        "x": str(x_path),
        "y": str(work / "y.npy"),
        "out_dir": str(work / "prj"),
        "result": str(work / "result.json"),
    }
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    if name.startswith("qkeras"):
        env.pop("KERAS_BACKEND")  # the qkeras peer is Keras 2 on TensorFlow
    helper = Path(__file__).with_name("_hls4ml_jet_tagger.py")
    proc = subprocess.run(
        [str(peer_python(name)), str(helper), str(work / "spec.json")],
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


def make_models(names: list[str], work: Path) -> None:
    """Write the `.keras` files of MADE models (and conv2d_small_keras's Keras rebuild)."""
    import hepinfer

    spec: dict[str, Any] = {"out": str(work), "models": names}
    if "conv2d_small_keras" in names:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_emulator_batch1 import conv2d_arrays

        conv2d_arrays(hepinfer.compile(ONNX / "conv2d_small_keras.onnx", CONFIG), work / "c2.npz")
        spec["conv2d_npz"] = str(work / "c2.npz")
    (work / "make.json").write_text(json.dumps(spec))
    helper = Path(__file__).with_name("_hls4ml_make_models.py")
    subprocess.run(
        [str(PEERS / "hls4ml" / "bin" / "python"), str(helper), str(work / "make.json")],
        env={**os.environ, "KERAS_BACKEND": "torch"},
        check=True,
    )


def sources(name: str, work: Path) -> tuple[Any, dict[str, str]]:
    """What hepinfer compiles and what hls4ml converts, for model `name`."""
    if name in MADE:
        path = work / f"{name}.keras"
        return path, {"keras_file": str(path)}
    if name == "conv2d_small_keras":
        return ONNX / f"{name}.onnx", {"keras_file": str(work / f"{name}.keras")}
    files = (KERAS / f"{name}.json", KERAS / f"{name}_weights.h5")
    return files, {"json": str(files[0]), "h5": str(files[1])}


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
    rates, cpu_rates, y = [], [], None
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        y = model.csim(x, headers=headers, io_type=io_type)
        rates.append(len(x) / (time.perf_counter() - t0))
        cpu_rates.append(len(x) / (time.process_time() - c0))
    return {
        "build_s": build,
        "cached_s": cached,
        "rate": max(rates),
        "cpu_rate": max(cpu_rates),
        "y": y,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--io-type", choices=sorted(MODELS), default="io_parallel")
    parser.add_argument(
        "--models", help=f"'all' or names separated by commas (default: two); all: {', '.join(ALL)}"
    )
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    import hepinfer

    io_type = args.io_type
    names = list(MODELS[io_type])
    if args.models:
        names = list(ALL) if args.models == "all" else args.models.split(",")
    unknown = [n for n in names if n not in ALL]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(ALL)}")
    hls4ml_ready = (PEERS / "READY-hls4ml").exists()
    results: dict[str, Any] = {
        "n": args.n,
        "io_type": io_type,
        "load_average": list(os.getloadavg()),
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        made = [n for n in names if n in MADE or n == "conv2d_small_keras"]
        if made:
            make_models(made, work)
        for name in names:
            source, theirs_from = sources(name, work)
            model = hepinfer.compile(source, CONFIG)
            shape = model.graph.inputs[0].out.shape
            n = min(args.n, MAX_N.get(name, args.n))
            x = np.random.default_rng(0).standard_normal((n, *shape))
            np.save(work / f"x-{name}.npy", x)
            emulator = model.predict(x)
            row: dict[str, Any] = {"n": n, "load_average": os.getloadavg()[0]}
            for headers in ("hepinfer", "xilinx"):
                r = bench_hepinfer(model, x, headers, work / f"cache-{name}-{headers}", io_type)
                r["equals_emulator"] = bool(np.array_equal(r.pop("y"), emulator))
                row[headers] = r
            if hls4ml_ready and peer_python(name).exists():
                sub = work / f"hls4ml-{name}"
                sub.mkdir()
                # per-layer types from hepinfer's names; the ONNX model's names are not Keras's
                config = CONFIG if name == "conv2d_small_keras" else hls4ml_config(model)
                h = run_hls4ml(name, theirs_from, config, work / f"x-{name}.npy", sub, io_type)
                if "y" in h:
                    theirs = h.pop("y")
                    h["equals_hepinfer"] = bool(
                        np.array_equal(theirs, emulator.reshape(len(x), -1))
                    )
                row["hls4ml"] = h
            results["models"][name] = row
            sys.stderr.write(f"{name}: {json.dumps(row)}\n")
    results["load_average_after"] = list(os.getloadavg())
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def report(r: dict[str, Any]) -> None:
    out = sys.stdout
    out.write(
        f"C simulation, up to {r['n']:,} inputs, ap_fixed<16,6> Latency RF1 {r['io_type']}, "
        f"load average {r['load_average'][0]:.1f} -> {r['load_average_after'][0]:.1f}\n\n"
    )
    out.write(
        "| model | tool | build (s) | build vs hls4ml | cached call (s) | samples/s | "
        "rate vs hls4ml | samples per CPU s | CPU rate vs hls4ml | bit-exact |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    for name, row in r["models"].items():
        h = row.get("hls4ml", {})
        hb, hr, hc = h.get("compile_s"), h.get("predict_rate"), h.get("predict_cpu_rate")
        for headers in ("hepinfer", "xilinx"):
            e = row[headers]
            vs_b = f"{hb / e['build_s']:.1f}x faster" if hb else "-"
            vs_r = f"{e['rate'] / hr:.1f}x" if hr else "-"
            vs_c = f"{e['cpu_rate'] / hc:.1f}x" if hc else "-"
            out.write(
                f"| {name} | hepinfer csim ({headers} headers) | {e['build_s']:.2f} | {vs_b} | "
                f"{e['cached_s']:.3f} | {e['rate']:,.0f} | {vs_r} | {e['cpu_rate']:,.0f} | "
                f"{vs_c} | {'yes' if e['equals_emulator'] else 'NO'} (emulator) |\n"
            )
        if hb:
            same = "yes" if h.get("equals_hepinfer") else "NO"
            out.write(
                f"| {name} | hls4ml compile()/predict() | {hb:.2f} | 1.0x | - | {hr:,.0f} | "
                f"1.0x | {hc:,.0f} | 1.0x | {same} (vs hepinfer) |\n"
            )
        elif "error" in h:
            out.write(f"| {name} | hls4ml failed: {h['error'][-200:]!r} | | | | | | | | |\n")


if __name__ == "__main__":
    sys.exit(main())
