"""Emulator throughput and time to first prediction: hepinfer vs hls4ml vs onnxruntime.

The KERAS_3layer jet tagger (16-64-32-32-5, from ../shared/data), 100,000 standard-normal
inputs, in the same run on the same machine:
- hepinfer: `hepinfer.compile(json+h5, config)` then `predict` (bit-exact fixed point), with
  the default engine (the native C++ Dense kernel, built once per machine and cached) and with
  `engine="numpy"` (pure numpy); the two are checked to be bit-identical;
- hls4ml 1.3.0 (its venv, a subprocess): convert + `compile()` (g++) then `predict()` (its
  C simulation), with the same configuration; the outputs are checked to be bit-identical
  (hepinfer: best of 5 runs; hls4ml: best rate of its 100k run and two runs on 20k);
- onnxruntime (float32, the ONNX export of the same network), as the float reference speed.
Three configurations: hls4ml's model-level `ap_fixed<16,6>` (accumulator 16 bits too, so each
product is truncated on its own), the same with exact accumulators (`accum: auto` in
hepinfer), and hepinfer's default configuration (16-bit weights sized to their range, exact
accumulators, `ap_fixed<16,6,AP_RND,AP_SAT>` results); hls4ml is given the identical explicit
per-layer types.

Run: python benchmarks/bench_emulator.py [--n 100000] [--json out.json]
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
ONNX = DATA / "hls4ml-example-models" / "onnx" / "three_layer_keras.onnx"


def best(fn: Any, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def hls4ml_types(model: Any) -> dict[str, Any]:
    """Per-layer explicit hls4ml configuration equal to hepinfer's resolved types."""
    layers = {}
    for node in model.graph.nodes:
        prec = {
            k: str(t)
            for k, t in node.precision.items()
            if k in ("result", "accum", "weight", "bias")
        }
        if prec:
            layers[node.name] = {"Precision": prec}
    return {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
        "LayerName": layers,
    }


def run_hls4ml(
    config: dict[str, Any], x_path: Path, work: Path
) -> tuple[dict[str, float], np.ndarray]:
    python = PEERS / "hls4ml" / "bin" / "python"
    spec = {
        "json": str(KERAS / "KERAS_3layer.json"),
        "h5": str(KERAS / "KERAS_3layer_weights.h5"),
        "hls_config": config,
        "x": str(x_path),
        "y": str(work / "y.npy"),
        "out_dir": str(work / "prj"),
        "result": str(work / "result.json"),
    }
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    helper = Path(__file__).with_name("_hls4ml_jet_tagger.py")
    subprocess.run(
        [str(python), str(helper), str(work / "spec.json")],
        check=True,
        env=env,
        capture_output=True,
    )
    return json.loads((work / "result.json").read_text()), np.load(work / "y.npy")


def native_build_time() -> float | None:
    """Seconds to build the native kernel from scratch (one time per machine; cached after)."""
    code = (
        "import time; from hepinfer.emulate import native; t = time.perf_counter(); "
        "ok = native.library() is not None; print(time.perf_counter() - t if ok else -1)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HEPINFER_CACHE": tmp}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    value = float(out.stdout.strip())
    return None if value < 0 else value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    import hepinfer
    from hepinfer.emulate import native

    x = np.random.default_rng(0).standard_normal((args.n, 16))
    configs = {
        "ap_fixed<16,6> (hls4ml default)": {"Model": {"Precision": "ap_fixed<16,6>"}},
        "ap_fixed<16,6>, exact accumulators": {
            "Model": {"Precision": {"default": "ap_fixed<16,6>", "accum": "auto"}}
        },
        "hepinfer's default (config=None)": None,
    }
    results: dict[str, Any] = {
        "n": args.n,
        "configs": {},
        "native_build_s": native_build_time(),
        "instruction_set": native.instruction_set(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.save(work / "x.npy", x)
        for label, config in configs.items():
            t0 = time.perf_counter()
            model = hepinfer.compile(
                (KERAS / "KERAS_3layer.json", KERAS / "KERAS_3layer_weights.h5"), config
            )
            model.predict(x[:1])
            first = time.perf_counter() - t0
            ours = model.predict(x)
            throughput = best(lambda m=model: m.predict(x), repeat=5)
            numpy_s = best(lambda m=model: m.predict(x, engine="numpy"), repeat=3)
            row: dict[str, Any] = {
                "hepinfer_first_s": first,
                "hepinfer_predict_s": throughput,
                "hepinfer_numpy_predict_s": numpy_s,
                "engines_identical": bool(np.array_equal(model.predict(x, engine="numpy"), ours)),
            }
            if (PEERS / "READY-hls4ml").exists():
                sub = work / label.replace(" ", "_").replace("<", "").replace(">", "").replace(
                    ",", ""
                )
                sub.mkdir()
                h, y = run_hls4ml(hls4ml_types(model), work / "x.npy", sub)
                row.update({f"hls4ml_{k}": v for k, v in h.items() if k != "n"})
                row["bit_identical"] = bool(np.array_equal(y, ours))
                row["differing_outputs"] = int(np.count_nonzero(y != ours))
                row["n_outputs"] = int(y.size)
            results["configs"][label] = row
        try:
            import onnx
            import onnxruntime as ort

            m = onnx.load(str(ONNX))
            m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
            m.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "N"
            options = ort.SessionOptions()
            options.log_severity_level = 3  # the export's fixed batch of 1 warns otherwise
            session = ort.InferenceSession(
                m.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
            feed = {session.get_inputs()[0].name: x.astype(np.float32)}
            session.run(None, feed)
            results["onnxruntime_predict_s"] = best(lambda: session.run(None, feed))
        except ImportError:
            pass
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def report(r: dict[str, Any]) -> None:
    n = r["n"]
    print(
        f"KERAS_3layer jet tagger, {n:,} samples (samples/s; time to first prediction); "
        f"native kernel: {r['instruction_set']}, one-time build {r['native_build_s']:.1f} s"
    )
    print(
        "| configuration | hepinfer (native) | hepinfer (engine=numpy) | hls4ml predict() | "
        "native / hls4ml | onnxruntime float32 | native / onnxruntime | hepinfer first prediction | "
        "hls4ml convert+compile+first | ratio | outputs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ort_rate = n / r["onnxruntime_predict_s"] if "onnxruntime_predict_s" in r else float("nan")
    for label, row in r["configs"].items():
        ours = n / row["hepinfer_predict_s"]
        slow = n / row["hepinfer_numpy_predict_s"]
        same = "numpy = native" if row["engines_identical"] else "ENGINES DIFFER"
        first = f"{row['hepinfer_first_s'] * 1e3:.0f} ms"
        if "hls4ml_predict_s" in row:
            theirs = row["hls4ml_predict_rate"]
            h_first = (
                row["hls4ml_convert_s"] + row["hls4ml_compile_s"] + row["hls4ml_first_predict_s"]
            )
            print(
                f"| {label} | {ours:,.0f} | {slow:,.0f} | {theirs:,.0f} | **{ours / theirs:.0f}x** | "
                f"{ort_rate:,.0f} | {ours / ort_rate:.2f}x | {first} | {h_first:.2f} s | "
                f"{h_first / row['hepinfer_first_s']:.0f}x | {same}; vs hls4ml: "
                f"{row['differing_outputs']} of {row['n_outputs']:,} differ |"
            )
        else:
            print(
                f"| {label} | {ours:,.0f} | {slow:,.0f} | (hls4ml absent) | | {ort_rate:,.0f} | "
                f"{ours / ort_rate:.2f}x | {first} | | | {same} |"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
