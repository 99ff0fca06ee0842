"""GarNet / GarNetStack (issue 13): the emulator against hls4ml `predict()`.

Model: `tests/ops/garnet_runner.py`'s Keras 2 model (8 vertices of 3 features and a vertex
count: a per-vertex GarNet, a collapsed GarNet and a Dense, a two-sublayer GarNetStack, a
collapsed GarNet and a GarNetStack with `mean_by_nvert` and `quantize_transforms`), random weights, hls4ml 1.3's model-level `ap_fixed<16,6>` (Latency, RF 1).
hls4ml converts, compiles and predicts in the qkeras peer (TensorFlow 2.14, a subprocess,
which records its `predict()` time); hepinfer compiles the same JSON + HDF5 with the same
configuration and predicts the same inputs (best of `--repeat`, after one warm-up call);
the outputs are compared bit for bit (per-vertex rows below the vertex count).

`--model garnet_new`: only the collapsed GarNet with `mean_by_nvert` and
`quantize_transforms`; `--model garnet_stack_new`: only the GarNetStack with both.

Run: python benchmarks/bench_garnet.py [--model garnet|garnet_new|garnet_stack_new] [--n 20000]
[--repeat 5] [--hls4ml-o3] (hls4ml's own -O3 build; by default the tests' -O1)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import hepinfer

REPO = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))
RUNNER = REPO / "tests" / "ops" / "garnet_runner.py"
V, F = 8, 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="inputs per predict")
    parser.add_argument("--repeat", type=int, default=5, help="hepinfer timing repeats")
    parser.add_argument(
        "--model", choices=("garnet", "garnet_new", "garnet_stack_new"), default="garnet"
    )
    parser.add_argument(
        "--hls4ml-o3", action="store_true", help="hls4ml's own -O3 build (default: -O1)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    x = np.round(rng.uniform(-2, 2, (args.n, V, F)) * 32) / 32
    n = rng.integers(1, V + 1, (args.n, 1)).astype(np.float64)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.save(work / "x.npy", x)
        np.save(work / "n.npy", n)
        job = {"model": args.model, "seed": 1, "configs": {"model": "model"}}
        if args.hls4ml_o3:
            job["hls4ml_build"] = "default"
        spec = {"x": str(work / "x.npy"), "n": str(work / "n.npy"), "out": tmp, "jobs": [job]}
        (work / "spec.json").write_text(json.dumps(spec))
        python = PEERS / "qkeras" / "bin" / "python"
        subprocess.run([str(python), str(RUNNER), str(work / "spec.json")], check=True)
        out = work / args.model
        hls4ml_s = json.loads((out / "timing.json").read_text())["model"]
        config = json.loads((out / "config_model.json").read_text())
        model = hepinfer.compile((out / "model.json", out / "model_weights.h5"), config)
        ours = model.predict([x[:10], n[:10]])  # warm-up: binds the plan
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            ours = model.predict([x, n])
            times.append(time.perf_counter() - start)
        if not isinstance(ours, dict):  # one output
            ours = {model.graph.outputs[0]: ours}
        exact = True
        for i, name in enumerate(model.graph.outputs):
            got = np.asarray(ours[name]).reshape(args.n, -1)
            expected = np.load(out / f"y_model{i}.npy").reshape(args.n, -1)
            differ = got != expected
            if name == "gar_v":  # per vertex: the rows below the count
                differ &= np.repeat(np.arange(V)[None, :] < n, got.shape[1] // V, axis=1)
            exact &= not bool(differ.any())
    best = min(times)
    print(
        "| inputs | hepinfer predict (s) | samples/s | hls4ml predict (s) | samples/s | x hls4ml | bit-exact |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|")
    print(
        f"| {args.n:,} | {best:.3f} | {args.n / best:,.0f} | {hls4ml_s:.3f} | "
        f"{args.n / hls4ml_s:,.0f} | {hls4ml_s / best:.1f} | {exact} |"
    )


if __name__ == "__main__":
    main()
