"""hepinfer's emulator against hls4ml 1.3's `predict()` on the QKeras models of issue 13.

Builds the separable and recurrent QKeras models of `tests/frontends/qkeras_runner.py` in the
`qkeras` peer (one TensorFlow start), which converts them with hls4ml 1.3 at its QKeras
configuration (`granularity='name'`, model `ap_fixed<16,6>`) and times `predict()` on the
inputs; hepinfer compiles that configuration unchanged and is timed (best of 3) with the
native and the numpy engine; every output is compared with hls4ml's.

Models hls4ml 1.3 cannot run (`NO_HLS4ML`: QSimpleRNN, which its Vitis backend drops, and
the `scaled` and `relu_po2` models' `quantized_po2`, `quantized_relu_po2` and
`alpha='auto_po2'` quantisers, whose hls4ml types are not fixed point) are timed against QKeras's own
`predict()` on the whole batch (best of 3 after the runner's first call), and their bits are checked
against hepinfer's C simulation of the same model (its HLS project, compiled with g++) on
every input; the po2 models at wide types (`ap_fixed<32,12>`), where the fixed-point
outputs equal QKeras's, also count the outputs that differ from QKeras.

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
from typing import Any

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
    # QSimpleRNN(6, relu, sequences) -> QSimpleRNN(4, tanh); quantized_bits(alpha='auto_po2'),
    # quantized_relu, quantized_po2 kernels, keep_negative=False, ternary(alpha='auto_po2'),
    # symmetric
    "simple_rnn": (8, 4),
    "scaled": (16,),
    # quantized_relu_po2 kernels (the second with negative_slope=0.25)
    "relu_po2": (16,),
}
#: models hls4ml 1.3 cannot run -> the configuration hepinfer compiles them with (the tests')
NO_HLS4ML: dict[str, dict[str, Any]] = {
    "simple_rnn": {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}
    },
    "scaled": {"Model": {"Precision": "ap_fixed<32,12>"}},
    "relu_po2": {"Model": {"Precision": "ap_fixed<32,12>"}},
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
        if name in NO_HLS4ML:
            job |= {"hls4ml": False, "qkeras_timing": True}
        jobs.append(job)
    (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
    subprocess.run([str(python), str(RUNNER), str(work / "spec.json")], check=True)
    rows = [
        "| model | hls4ml `predict()` | hepinfer native | hepinfer numpy | speed-up (native) | outputs differing |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    others = [
        (
            "| model | QKeras `predict()` | hepinfer native | hepinfer numpy | speed-up (native) "
            "| outputs differing from hepinfer's C simulation | from QKeras |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in models:
        out = work / name
        if name in NO_HLS4ML:
            others.append(_against_qkeras(name, out, np.load(work / f"{name}.npy")))
            continue
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
    if len(rows) > 2:
        sys.stdout.write("\n".join(rows) + "\n")
    if len(others) > 2:
        sys.stdout.write("\n".join(others) + "\n")
    return 0


def _against_qkeras(name: str, out: Path, x: np.ndarray) -> str:
    """A `NO_HLS4ML` model's row: QKeras's predict() time, hepinfer's (native, numpy), and
    its outputs against hepinfer's C simulation (all inputs) and QKeras's float32 outputs.
    """
    qkeras_s = float(json.loads((out / "qkeras_timing.json").read_text())["predict_s"])
    model = hepinfer.compile((out / "model.json", out / "model_weights.h5"), NO_HLS4ML[name])
    ours = np.asarray(model.predict(x, engine="native")).reshape(len(x), -1)
    csim = np.asarray(model.csim(x)).reshape(len(x), -1)
    qkeras = np.load(out / "y_qkeras.npy").reshape(len(x), -1)
    native = _best(lambda m=model, v=x: m.predict(v, engine="native"))
    numpy_s = _best(lambda m=model, v=x: m.predict(v, engine="numpy"))
    return (
        f"| {name} | {qkeras_s:.2f} s | {native:.3f} s | {numpy_s:.3f} s | "
        f"{qkeras_s / native:.0f}x | {int(np.count_nonzero(ours != csim))} of {ours.size} | "
        f"{int(np.count_nonzero(ours != qkeras))} of {ours.size} |"
    )


if __name__ == "__main__":
    sys.exit(main())
