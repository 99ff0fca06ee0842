"""ONNX models against hls4ml 1.3's ONNX converter (issue 13): speed and bit-exactness.

Models (`tests/frontends/onnx_hls4ml_models.py`, random weights): `tagger`, every ONNX family
hls4ml 1.3 converts correctly after QONNX's clean-up in one (N, 2, 8, 8) model (Conv 2D,
BatchNormalization, MaxPool, depthwise Conv, Conv 1D, Quant, MatMul + Add, eight activations,
the two-input merges, Concat, arithmetic by constants, Gemm, Softmax; two outputs), and
`padded`, Pad -> Flatten -> MatMul (hls4ml reads Pad correctly only in a model without
channels-last nodes). Both go through the QONNX peer (`tests/frontends/onnx_hls4ml_runner.py`:
QONNX clean-up, channels-last, GemmToMatMul; hls4ml `convert_from_onnx_model`, model-level
`ap_fixed<16,6>`, RF 1, io_parallel) and its `predict()` (C simulation) over one batch of `--n`
inputs; hepinfer compiles the ONNX file as written and runs `predict` on the same batch and
on single inputs. Outputs are compared bit for bit.

Run: python benchmarks/bench_onnx_hls4ml.py [--n 10000] [--calls 2000]
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
from tests.frontends import onnx_hls4ml_models as hm

import hepinfer

REPO = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))
RUNNER = REPO / "tests" / "frontends" / "onnx_hls4ml_runner.py"
CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}
MODELS = {"tagger": (hm.tagger, (2, 8, 8)), "padded": (hm.padded, (2, 4, 4))}


def _rows(outputs: Any, n: int) -> np.ndarray:
    parts = list(outputs.values()) if isinstance(outputs, dict) else [outputs]
    return np.concatenate([np.asarray(p).reshape(n, -1) for p in parts], axis=1)


def main() -> None:
    """Time both on the same inputs and print one JSON line per model."""
    import onnx

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        jobs = []
        for name, (build, shape) in MODELS.items():
            onnx.save(build(), str(work / f"{name}.onnx"))
            x = np.round(np.random.default_rng(7).uniform(-2, 2, (args.n, *shape)) * 32) / 32
            np.save(work / f"{name}_x.npy", x)
            jobs.append(
                {
                    "onnx": str(work / f"{name}.onnx"),
                    "x": str(work / f"{name}_x.npy"),
                    "out": str(work / name),
                    "config": CONFIG,
                }
            )
        (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
        python = PEERS / "hls4ml" / "bin" / "python"
        subprocess.run(
            [str(python), str(RUNNER), str(work / "spec.json")],
            check=True,
            capture_output=True,
        )
        for name in MODELS:
            theirs = json.loads((work / name / "timing.json").read_text())
            expected = np.load(work / name / "y_hls4ml.npy")
            xs = np.load(work / f"{name}_x.npy")
            compiled = hepinfer.compile(work / f"{name}.onnx", CONFIG)
            compiled.predict(xs[:10])  # the plan is bound at the first call
            start = time.perf_counter()
            ours = _rows(compiled.predict(xs), args.n)
            batch_s = time.perf_counter() - start
            start = time.perf_counter()
            for row in xs[: args.calls]:
                compiled.predict(row[None])
            single_us = (time.perf_counter() - start) / args.calls * 1e6
            result = {
                "model": name,
                "n": args.n,
                "hepinfer_batch_s": round(batch_s, 4),
                "hepinfer_inputs_per_s": round(args.n / batch_s),
                "hepinfer_single_us": round(single_us, 1),
                "hls4ml_predict_s": round(theirs["hls4ml_predict_s"], 4),
                "hls4ml_inputs_per_s": round(args.n / theirs["hls4ml_predict_s"]),
                "speedup": round(theirs["hls4ml_predict_s"] / batch_s, 1),
                "mismatches": int(np.sum(ours != expected)),
                "outputs": int(expected.size),
            }
            print(json.dumps(result))


if __name__ == "__main__":
    main()
