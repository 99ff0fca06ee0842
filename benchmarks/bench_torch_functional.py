"""torch.einsum (hls4ml's Einsum) and numbers in `+ - *` (hls4ml's Constant), issue 13: the
emulator against hls4ml `predict()`.

The models of `tests/frontends/torch_hls4ml_runner.py` (TwoEinsums: three Linear layers, two
einsums of their outputs, two Linear layers; ScalarArith: Linear, `* c`, `+ c`, `- c`, ReLU,
Linear, `* c`), random weights, at hls4ml's configuration (`granularity='name'`, model
`ap_fixed<16,6>`). hls4ml 1.3.0 converts and runs them in its venv (a subprocess); hepinfer
compiles the same modules with the configuration hls4ml used and predicts the same inputs;
the outputs are compared bit for bit.

Run: python benchmarks/bench_torch_functional.py [--n 10000]
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
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PEERS = Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))
RUNNER = REPO / "tests" / "frontends" / "torch_hls4ml_runner.py"


def main() -> None:
    from tests.frontends.torch_hls4ml_runner import MODELS

    import hepinfer

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()
    x = np.round(np.random.default_rng(5).uniform(-2, 2, (args.n, 6)) * 32) / 32
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.save(work / "x.npy", x)
        jobs = [
            {"model": m, "seed": 1, "shape": [6], "x": str(work / "x.npy"), "out": str(work / m)}
            for m in ("two_einsums", "scalar_arith")
        ]
        (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
        env = {**os.environ, "KERAS_BACKEND": "torch"}
        python = PEERS / "hls4ml" / "bin" / "python"
        cmd = [str(python), str(RUNNER), str(work / "spec.json")]
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        print("| model | engine | inputs | seconds | inputs/s |")
        print("|---|---|---:|---:|---:|")
        for job in jobs:
            name = str(job["model"])
            out = work / name
            module = MODELS[name]()
            module.load_state_dict(torch.load(out / "state.pt"))
            module.eval()
            config = json.loads((out / "hls4ml_config.json").read_text())
            config["LayerName"] = {
                k: v for k, v in config["LayerName"].items() if not k.startswith("const")
            }
            model = hepinfer.compile(module, config)
            model.predict(x[:10])  # warm
            start = time.perf_counter()
            ours = np.asarray(model.predict(x)).reshape(len(x), -1)
            seconds = time.perf_counter() - start
            theirs = np.load(out / "y_hls4ml.npy")
            hls4ml_s = json.loads((out / "timing.json").read_text())["hls4ml_predict_s"]
            differ = int(np.count_nonzero(ours != theirs))
            for engine, s in (("hepinfer emulator", seconds), ("hls4ml 1.3 predict()", hls4ml_s)):
                print(f"| {name} | {engine} | {len(x):,} | {s:.4f} | {len(x) / s:,.0f} |")
            print(f"<!-- {name}: {differ} of {ours.size} outputs differ from hls4ml -->")


if __name__ == "__main__":
    main()
