"""Brevitas-exported QONNX models (issue 13): emulator speed against hls4ml 1.3 `predict()` and
Brevitas' own forward, and bit-exactness.

Models (`tests/frontends/brevitas_runner.py`, random weights, power-of-two scales): `mlp`
(QuantIdentity -> 3 QuantLinear with QuantReLU, 4/4/6-bit weights, 6-bit activations), `cnn`
(two QuantConv2d, MaxPool2d, QuantLinear on (2, 8, 8)), `binary` (binary weights +-1 and a
bipolar activation), `binary_half` (the same, weights +-0.5), `per_channel` (`mlp` with
per-channel weight scales, no biases) and `cnn_trunc` (QuantHardTanh, TruncAvgPool2d: an
AveragePool and a QONNX Trunc). The Brevitas peer builds and exports them
(`export_qonnx`), times Brevitas' forward on one batch of `--n` inputs, and converts `mlp`,
`cnn` and `binary` with hls4ml (QONNX clean-up, model-level `ap_fixed<16,6>`, RF 1,
io_parallel; hls4ml 1.3 gets `binary_half` wrong and refuses `per_channel` and `cnn_trunc`) and times its
`predict()` (C simulation) on the same batch. hepinfer compiles the export as written (fixed
point, the same configuration) and runs `predict` on the same batch and on single inputs.
`mlp_float`, `cnn_float` and `per_channel_float` use Brevitas' default quantisers (float
scales, 8 bits; hls4ml's ApplyAlpha transformation; hls4ml 1.3 fails on per-channel float
scales: that one runs at `ap_fixed<36,20>` and reports its distance to Brevitas).
`zero_point` (a zero point and per-channel activation scales; hls4ml converts it with its
(1, C) scales written as (C,)) and `qonnx_zero_point` (a QONNX graph written with onnx.helper;
"brevitas_forward_s" is then QONNX's executor's) go the same way as `mlp_float`.
Bit-exactness: against hls4ml's outputs (`mlp`, `cnn`, `binary`, `mlp_float`, `cnn_float`),
against QONNX's executor (`binary_half`, `per_channel`, `cnn_trunc`: at `ap_fixed<24,8>`,
where every sum is exact). `--model NAME` (repeatable) runs only those.
`--csim N` also compares hepinfer's C simulation (io_parallel and io_stream; `--headers`:
'auto' = Xilinx's where the hls4ml peer is installed, or 'hepinfer') with its emulator on N
inputs.

Run: HEPINFER_PEERS=$PWD/peers python benchmarks/bench_brevitas.py [--n 10000] [--calls 1000]
[--csim 0] [--headers auto] [--model mlp_float ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import hepinfer

REPO = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))
RUNNER = REPO / "tests" / "frontends" / "brevitas_runner.py"
CONFIG: dict[str, Any] = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}
WIDE: dict[str, Any] = {"Model": {"Precision": "ap_fixed<24,8>", "ReuseFactor": 1}}
#: integer sums of 8-bit x 8-bit products need 20 integer bits; 16 fractional for the scales
FLOAT_WIDE: dict[str, Any] = {"Model": {"Precision": "ap_fixed<36,20>", "ReuseFactor": 1}}
HLS4ML = ("mlp", "cnn", "binary", "mlp_float", "cnn_float", "zero_point", "qonnx_zero_point")
#: float scales (hls4ml's ApplyAlpha): no exact fixed-point value, distance to Brevitas reported
FLOAT_SCALE = ("mlp_float", "cnn_float", "per_channel_float", "zero_point", "qonnx_zero_point")
MODELS = (
    "mlp",
    "cnn",
    "binary",
    "binary_half",
    "per_channel",
    "cnn_trunc",
    "mlp_float",
    "cnn_float",
    "per_channel_float",
    "zero_point",
    "qonnx_zero_point",
)


def main() -> None:
    """Time the three on the same inputs and print one JSON line per model."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--csim", type=int, default=0, help="inputs for C simulation (0: none)")
    parser.add_argument(
        "--headers", default="auto", help="C simulation headers: auto, xilinx, hepinfer"
    )
    parser.add_argument(
        "--model", action="append", choices=MODELS, help="only these models (repeatable)"
    )
    args = parser.parse_args()
    chosen = tuple(args.model or MODELS)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = {m: {"configs": {"model": CONFIG}} if m in HLS4ML else {} for m in chosen}
        spec = {"out": str(work), "n": args.n, "models": models}
        (work / "spec.json").write_text(json.dumps(spec))
        python = PEERS / "hls4ml" / "bin" / "python"
        subprocess.run(
            [str(python), str(RUNNER), str(work / "spec.json")], check=True, capture_output=True
        )
        for name in chosen:
            d = work / name
            xs = np.load(d / "x.npy")
            config = CONFIG if name in HLS4ML else WIDE
            config = FLOAT_WIDE if name == "per_channel_float" else config
            compiled = hepinfer.compile(d / "model.onnx", config)
            compiled.predict(xs[:10])  # the plan is bound at the first call
            start = time.perf_counter()
            ours = np.asarray(compiled.predict(xs)).reshape(args.n, -1)
            batch_s = time.perf_counter() - start
            start = time.perf_counter()
            for row in xs[: args.calls]:
                compiled.predict(row[None])
            single_us = (time.perf_counter() - start) / args.calls * 1e6
            brevitas_s = json.loads((d / "timing.json").read_text())["brevitas_forward_s"]
            result: dict[str, Any] = {
                "model": name,
                "n": args.n,
                "hepinfer_batch_s": round(batch_s, 4),
                "hepinfer_inputs_per_s": round(args.n / batch_s),
                "hepinfer_single_us": round(single_us, 1),
                "brevitas_forward_s": round(brevitas_s, 4),
            }
            if name in HLS4ML:
                theirs = json.loads((d / "model" / "timing.json").read_text())["hls4ml_predict_s"]
                expected = np.load(d / "model" / "y_hls4ml.npy")
                result |= {
                    "hls4ml_predict_s": round(theirs, 4),
                    "hls4ml_inputs_per_s": round(args.n / theirs),
                    "speedup_vs_hls4ml": round(theirs / batch_s, 1),
                    "against": "hls4ml",
                }
            else:
                expected = np.load(d / "y_qonnx.npy")
                result["against"] = "qonnx"
            result |= {"mismatches": int(np.sum(ours != expected)), "outputs": int(ours.size)}
            if name in FLOAT_SCALE:  # float scales: no exact fixed-point value
                brevitas = np.load(d / "y_torch.npy")
                result["max_abs_vs_brevitas"] = round(float(np.abs(ours - brevitas).max()), 4)
                result["max_abs_brevitas"] = round(float(np.abs(brevitas).max()), 4)
            if args.csim:  # hepinfer's own HLS project, both IO types
                sub = xs[: args.csim]
                for io in ("io_parallel", "io_stream"):
                    got = compiled.csim(sub, io_type=io, headers=args.headers)
                    got = np.asarray(got).reshape(len(sub), -1)
                    result[f"csim_{io}_mismatches"] = int(np.sum(got != ours[: len(sub)]))
            print(json.dumps(result))


if __name__ == "__main__":
    main()
