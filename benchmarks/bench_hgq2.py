"""HGQ2 models (issue 13): the emulator against hls4ml `predict()` on an HGQ2 jet tagger.

Model: `jet_het` of `tests/frontends/hgq2_runner.py`, a 16-64-32-32-5 QDense ReLU tagger with
random weights and random per-element quantiser bits (some elements pruned), built in the
HGQ2 peer (hgq2 0.2.0 in the hls4ml 1.3 venv, `KERAS_BACKEND=torch`), converted there by
hls4ml 1.3 (model-level `ap_fixed<16,6>`, RF 1; its bit-exact flow sets every type) and
timed over one batch of `--n` inputs with its `predict()` (its C simulation). hepinfer
converts the exported model (`model.npz`) and runs `predict` on the same batch and on
single inputs; the outputs are compared bit for bit.

`--model attention`: the `attention` model of the runner instead (QEinsumDense,
QEinsumDenseBatchnorm, QEinsum, QSoftmax, QMultiHeadAttention on (8, 6) inputs; `linformer`:
with a QLinformerAttention after the QMultiHeadAttention; `softmax_latency`: a lone
`stable=False` QSoftmax, hls4ml's latency softmax, on (8, 16) inputs); `--csim N`
also compares hepinfer's C simulation (io_parallel and io_stream) with its emulator on the
first N inputs.

Run: python benchmarks/bench_hgq2.py [--model jet_het|attention|linformer|softmax_latency]
[--n 10000]
[--calls 2000]
[--csim 0]
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
RUNNER = REPO / "tests" / "frontends" / "hgq2_runner.py"
CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}
#: runner model -> its per-sample input shape
SHAPES = {"jet_het": (16,), "attention": (8, 6), "linformer": (8, 6), "softmax_latency": (8, 16)}


def main() -> None:
    """Time both on the same inputs and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--model", choices=sorted(SHAPES), default="jet_het")
    parser.add_argument("--csim", type=int, default=0)
    args = parser.parse_args()
    csim: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shape = (args.n, *SHAPES[args.model])
        x = np.random.default_rng(7).normal(0.0, 2.0, shape).astype(np.float32)
        np.save(work / "x.npy", x)
        job = {"model": args.model, "seed": 1, "x": str(work / "x.npy"), "out": str(work / "jet")}
        (work / "spec.json").write_text(json.dumps({"jobs": [job]}))
        env = {**os.environ, "KERAS_BACKEND": "torch"}
        python = PEERS / "hls4ml" / "bin" / "python"
        subprocess.run([str(python), str(RUNNER), str(work / "spec.json")], check=True, env=env)
        theirs = json.loads((work / "jet" / "timing.json").read_text())
        expected = np.load(work / "jet" / "y_hls4ml.npy")
        compiled = hepinfer.compile(work / "jet" / "model.npz", CONFIG)
        xs = x.astype(np.float64)
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
        "model": args.model,
        "n": args.n,
        "hepinfer_batch_s": round(batch_s, 4),
        "hepinfer_inputs_per_s": round(args.n / batch_s),
        "hepinfer_single_us": round(single_us, 1),
        "hls4ml_predict_s": round(theirs["predict_s"], 4),
        "hls4ml_inputs_per_s": round(args.n / theirs["predict_s"]),
        "mismatches": int(np.sum(ours != expected)),
        "outputs": int(expected.size),
        **csim,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
