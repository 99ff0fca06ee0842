"""hepinfer's emulator against hls4ml 1.3's `predict()` on the QKeras models of issue 13.

Builds the separable and recurrent QKeras models of `tests/frontends/qkeras_runner.py` in the
`qkeras` peer (one TensorFlow start), which converts them with hls4ml 1.3 at its QKeras
configuration (`granularity='name'`, model `ap_fixed<16,6>`) and times `predict()` on the
inputs; hepinfer compiles that configuration unchanged and is timed (best of 3) with the
native and the numpy engine; every output is compared with hls4ml's.

Usage: python benchmarks/bench_qkeras_layers.py [-n 20000] [--peers /work/main/peers]
[--models NAME ...] [--hls4ml-o3] (hls4ml's own -O3 build; by default the tests' -O1)
Prints the Markdown rows recorded in RESULTS.md ("QKeras models (issue 13)").
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

import numpy as np

import hepinfer

RUNNER = Path(__file__).parents[1] / "tests" / "frontends" / "qkeras_runner.py"
#: model -> input shape
MODELS = {
    "separable2d": (8, 8, 2),
    "separable1d": (16, 3),
    "gru_lstm": (8, 4),
    "lstm_gru": (8, 4),
    # binary QConv1D kernel, QBatchNormalization, leaky quantized_relu, ternary QDense,
    # quantized_sigmoid; BinaryDense / TernaryDense by class name; QConv2DBatchnorm
    "conv1d": (16, 3),
    "binary_ternary": (16,),
    "conv_bn": (8, 8, 2),
}


def _best(fn: object, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20000, help="inputs per model")
    parser.add_argument("--peers", default=os.environ.get("HEPINFER_PEERS", "peers"))
    parser.add_argument("--models", nargs="*", choices=list(MODELS), help="these models only")
    parser.add_argument(
        "--hls4ml-o3", action="store_true", help="hls4ml's own -O3 build (default: -O1)"
    )
    args = parser.parse_args()
    models = {name: MODELS[name] for name in args.models or MODELS}
    python = Path(args.peers) / "qkeras" / "bin" / "python"
    work = Path(tempfile.mkdtemp(prefix="bench_qkeras_"))
    rng = np.random.default_rng(5)
    jobs = []
    for name, shape in models.items():
        x = np.round(rng.uniform(-2, 2, (args.n, *shape)) * 32) / 32
        np.save(work / f"{name}.npy", x)
        job = {"model": name, "seed": 1, "x": str(work / f"{name}.npy"), "out": str(work / name)}
        if args.hls4ml_o3:
            job["hls4ml_build"] = "default"
        jobs.append(job)
    (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
    subprocess.run([str(python), str(RUNNER), str(work / "spec.json")], check=True)
    rows = [
        "| model | hls4ml `predict()` | hepinfer native | hepinfer numpy | speed-up (native) | outputs differing |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in models:
        out = work / name
        x = np.load(work / f"{name}.npy")
        config = json.loads((out / "hls4ml_config.json").read_text())
        theirs = np.load(out / "y_hls4ml.npy")
        hls4ml_s = float(json.loads((out / "timing.json").read_text())["hls4ml_predict_s"])
        model = hepinfer.compile((out / "model.json", out / "model_weights.h5"), config)
        ours = np.asarray(model.predict(x, engine="native")).reshape(len(x), -1)
        differing = int(np.count_nonzero(ours != theirs))
        native = _best(lambda m=model, v=x: m.predict(v, engine="native"))
        numpy_s = _best(lambda m=model, v=x: m.predict(v, engine="numpy"))
        rows.append(
            f"| {name} | {hls4ml_s:.2f} s | {native:.3f} s | {numpy_s:.3f} s | "
            f"{hls4ml_s / native:.0f}x | {differing} of {ours.size} |"
        )
    sys.stdout.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
