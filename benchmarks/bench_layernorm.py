"""LayerNormalization and TimeDistributed (issue 13): the emulator against hls4ml `predict()`.

Model (random weights, Keras 2 JSON + HDF5, the form hls4ml 1.3 converts TimeDistributed in):
(8 steps, 16 features) -> TimeDistributed(Dense(16)) -> LayerNormalization -> Flatten ->
Dense(5), at hls4ml's model-level `ap_fixed<16,6>` (Latency, RF 1). Measured in one run:
hepinfer `predict` on one batch and one sample per call, hls4ml 1.3.0 `predict()` (its venv,
a subprocess: `_hls4ml_predict.py`) the same two ways; the outputs compared bit for bit.

Run: python benchmarks/bench_layernorm.py [--n 10000] [--calls 2000]
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

REPO = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))
CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
SEQ, DIM, OUT = 8, 16, 5


def write_model(folder: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """The Keras 2 files: architecture JSON and `model_weights` HDF5 (as `model.save`)."""
    import h5py

    def layer(cls: str, **cfg: Any) -> dict[str, Any]:
        return {"class_name": cls, "config": {"dtype": "float32", "trainable": True, **cfg}}

    dense = {"activation": "linear", "use_bias": True}
    layers = [
        layer("InputLayer", batch_input_shape=[None, SEQ, DIM], name="x_in"),
        layer("TimeDistributed", name="td", layer=layer("Dense", name="inner", units=DIM, **dense)),
        layer("LayerNormalization", name="ln", axis=[2], epsilon=1e-3, center=True, scale=True),
        layer("Flatten", name="flat"),
        layer("Dense", name="out", units=OUT, **dense),
    ]
    arch = {"class_name": "Sequential", "config": {"name": "model", "layers": layers}}
    json_path, h5_path = folder / "model.json", folder / "model_weights.h5"
    json_path.write_text(json.dumps({**arch, "keras_version": "2.15.0", "backend": "tensorflow"}))
    weights = {
        "td": {"kernel": rng.normal(0, 0.5, (DIM, DIM)), "bias": rng.normal(0, 0.3, DIM)},
        "ln": {"gamma": rng.normal(1, 0.3, DIM), "beta": rng.normal(0, 0.3, DIM)},
        "out": {"kernel": rng.normal(0, 0.3, (SEQ * DIM, OUT)), "bias": rng.normal(0, 0.3, OUT)},
    }
    with h5py.File(h5_path, "w") as f:
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [n.encode() for n in ("td", "ln", "flat", "out")]
        root.create_group("flat").attrs["weight_names"] = []
        for name, arrays in weights.items():
            group = root.create_group(name)
            names = [f"{name}/{k}:0" for k in arrays]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n, v in zip(names, arrays.values(), strict=True):
                group.create_dataset(n, data=np.asarray(v, np.float32))
    return json_path, h5_path


def run_hls4ml(files: tuple[Path, Path], x_path: Path, work: Path, calls: int) -> dict[str, Any]:
    spec = {
        "model": "keras",
        "json": str(files[0]),
        "h5": str(files[1]),
        "hls_config": CONFIG,
        "x": str(x_path),
        "y": str(work / "y.npy"),
        "out_dir": str(work / "prj"),
        "result": str(work / "result.json"),
        "n_single": calls,
    }
    (work / "spec.json").write_text(json.dumps(spec))
    helper = Path(__file__).with_name("_hls4ml_predict.py")
    python = PEERS / "hls4ml" / "bin" / "python"
    proc = subprocess.run(
        [str(python), str(helper), str(work / "spec.json")],
        env={**os.environ, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        msg = f"hls4ml failed:\n{proc.stderr[-2000:]}"
        raise SystemExit(msg)
    result: dict[str, Any] = json.loads((work / "result.json").read_text())
    result["y"] = np.load(work / "y.npy")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="inputs of the batch")
    parser.add_argument("--calls", type=int, default=2_000, help="one-sample calls")
    args = parser.parse_args()
    import hepinfer
    from hepinfer.frontends.keras import load_json_h5

    rng = np.random.default_rng(13)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = write_model(work, rng)
        x = rng.normal(0, 1.5, size=(args.n, SEQ, DIM))
        np.save(work / "x.npy", x)
        model = hepinfer.compile(load_json_h5(*files), CONFIG)
        model.predict(x[:2])
        t0 = time.perf_counter()
        ours = np.asarray(model.predict(x)).reshape(len(x), -1)
        batch_s = time.perf_counter() - t0
        n_single = min(args.calls, len(x))
        t0 = time.perf_counter()
        for i in range(n_single):
            model.predict(x[i : i + 1])
        single_us = (time.perf_counter() - t0) / n_single * 1e6
        theirs = run_hls4ml(files, work / "x.npy", work, n_single)
    differ = int(np.count_nonzero(ours != theirs["y"].reshape(len(x), -1)))
    print(f"| engine | {args.n:,} inputs | inputs/s | one input per call |")
    print("|---|---:|---:|---:|")
    print(
        f"| hepinfer emulator (`predict`) | {batch_s:.3f} s | {args.n / batch_s:,.0f} | "
        f"{single_us:,.0f} us |"
    )
    print(
        f"| hls4ml 1.3 `predict()` (its C simulation) | {args.n / theirs['batch_rate']:.3f} s | "
        f"{theirs['batch_rate']:,.0f} | {theirs['single_us']:,.0f} us |"
    )
    print(f"\noutputs that differ from hls4ml's: {differ} of {ours.size}")
    return 0 if differ == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
