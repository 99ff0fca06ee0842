"""HGQ 1 proxy models (issue 13): the emulator against hls4ml `predict()` on an HGQ 1 model.

Model: the one of `tests/frontends/hgq1_runner.py` (HQuantize -> HDense(16, relu) -> HDense(8)
-> HActivation(tanh) as a UnaryLUT -> HDense(4), per-element bits from `trace_minmax`, SAT
quantisers), built with HGQ 0.2.6 in the hgq1 peer (the qkeras venv), its proxy model saved as
Keras 2 JSON + HDF5, converted there by hls4ml 1.3's Keras 2 JSON path (model-level
`ap_fixed<16,6>`, RF 1; its bit-exact flow sets every type) and timed over one batch of `--n`
inputs with its `predict()` (its C simulation). hepinfer converts the same JSON + HDF5 and
runs `predict` on the same batch and on single inputs; the outputs are compared bit for bit
with hls4ml's and with the proxy model's Keras output. `--csim N` also compares hepinfer's C
simulation (io_parallel and io_stream) with its emulator on the first N inputs.

Run: python benchmarks/bench_hgq1.py [--n 10000] [--calls 2000] [--csim 0]
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
RUNNER = REPO / "tests" / "frontends" / "hgq1_runner.py"
CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}


def main() -> None:
    """Time both on the same inputs and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--csim", type=int, default=0)
    args = parser.parse_args()
    csim: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        python = PEERS / "qkeras" / "bin" / "python"
        subprocess.run([str(python), str(RUNNER), str(work), "--n", str(args.n)], check=True)
        theirs = json.loads((work / "timing.json").read_text())
        expected = np.load(work / "y_hls4ml.npy")
        proxy = np.load(work / "y_proxy.npy").reshape(expected.shape)
        compiled = hepinfer.compile(work / "model.json", CONFIG)
        xs = np.load(work / "x.npy").astype(np.float64)
        compiled.predict(xs[:10])  # the plan is bound at the first call
        start = time.perf_counter()
        ours = np.asarray(compiled.predict(xs)).reshape(args.n, -1)
        batch_s = time.perf_counter() - start
        start = time.perf_counter()
        for row in xs[: args.calls]:
            compiled.predict(row[None])
        single_us = (time.perf_counter() - start) / args.calls * 1e6
        if args.csim:
            sub = xs[: args.csim]
            want = np.asarray(compiled.predict(sub)).reshape(len(sub), -1)
            for io in ("io_parallel", "io_stream"):
                got = np.asarray(compiled.csim(sub, io_type=io)).reshape(len(sub), -1)
                csim[f"csim_{io}_mismatches"] = int(np.sum(got != want))
    result = {
        "n": args.n,
        "hepinfer_batch_s": round(batch_s, 4),
        "hepinfer_inputs_per_s": round(args.n / batch_s),
        "hepinfer_single_us": round(single_us, 1),
        "hls4ml_compile_s": round(theirs["compile_s"], 1),
        "hls4ml_predict_s": round(theirs["predict_s"], 4),
        "hls4ml_inputs_per_s": round(args.n / theirs["predict_s"]),
        "mismatches_hls4ml": int(np.sum(ours != expected)),
        "mismatches_proxy": int(np.sum(ours != proxy)),
        "outputs": int(expected.size),
        **csim,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
