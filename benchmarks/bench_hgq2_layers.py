"""HGQ2 table, average and dot layers (issue 13): the emulator against hls4ml `predict()`.

Model: `layers` of `tests/frontends/hgq2_layers_runner.py` (standalone Quantizer,
QAveragePooling2D/1D, QGlobalAveragePooling1D/2D, QAveragePow2, QUnaryFunctionLUT(tanh), QDot
and QDense; random weights and per-element quantiser bits), built in the HGQ2 peer (hgq2 0.2.0
in the hls4ml 1.3 venv, `KERAS_BACKEND=torch`), converted there by hls4ml 1.3 (model-level
`ap_fixed<16,6>`, RF 1; its bit-exact flow sets every type) and timed over one batch of `--n`
inputs with its `predict()` (its C simulation). hepinfer converts the exported model
(`model.npz`) and runs `predict` on the same batch and on single inputs; the outputs (both
model outputs, flattened and concatenated) are compared bit for bit.

Run: python benchmarks/bench_hgq2_layers.py [--n 10000] [--calls 1000]
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
RUNNER = REPO / "tests" / "frontends" / "hgq2_layers_runner.py"
CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}


def _flat(model: hepinfer.CompiledModel, y: Any, n: int) -> np.ndarray:
    ys = [y[name] for name in model.graph.outputs] if isinstance(y, dict) else [y]
    return np.concatenate([np.asarray(v).reshape(n, -1) for v in ys], axis=1)


def main() -> None:
    """Time both on the same inputs and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        x = np.random.default_rng(7).normal(0.0, 2.0, (args.n, 8, 8, 2)).astype(np.float32)
        np.save(work / "x.npy", x)
        job = {"model": "layers", "seed": 3, "x": str(work / "x.npy"), "out": str(work / "out")}
        (work / "spec.json").write_text(json.dumps({"jobs": [job]}))
        env = {**os.environ, "KERAS_BACKEND": "torch"}
        python = PEERS / "hls4ml" / "bin" / "python"
        subprocess.run([str(python), str(RUNNER), str(work / "spec.json")], check=True, env=env)
        theirs = json.loads((work / "out" / "timing.json").read_text())
        expected = np.load(work / "out" / "y_hls4ml.npy")
        compiled = hepinfer.compile(work / "out" / "model.npz", CONFIG)
        xs = x.astype(np.float64)
        compiled.predict(xs[:10])  # the plan is bound at the first call
        start = time.perf_counter()
        ours = _flat(compiled, compiled.predict(xs), args.n)
        batch_s = time.perf_counter() - start
        start = time.perf_counter()
        for row in xs[: args.calls]:
            compiled.predict(row[None])
        single_us = (time.perf_counter() - start) / args.calls * 1e6
        fallbacks = compiled.plan_fallbacks()
    result = {
        "n": args.n,
        "hepinfer_batch_s": round(batch_s, 4),
        "hepinfer_inputs_per_s": round(args.n / batch_s),
        "hepinfer_single_us": round(single_us, 1),
        "hls4ml_predict_s": round(theirs["predict_s"], 4),
        "hls4ml_inputs_per_s": round(args.n / theirs["predict_s"]),
        "speedup": round(theirs["predict_s"] / batch_s, 1),
        "mismatches": int(np.sum(ours != expected)),
        "outputs": int(expected.size),
        "numpy_nodes": None if fallbacks is None else len(fallbacks),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
