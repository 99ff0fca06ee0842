"""Build an HGQ 1 model, write its proxy model and run it through Keras and hls4ml 1.3 (run
with the qkeras peer's python once HGQ 0.2.6 is added to it, peer `hgq1`; not collected by
pytest).

Usage: python hgq1_runner.py OUT [--n 2000] [--seed 0] [--wrap]
Model: HQuantize -> HDense(16, relu) -> HDense(8) -> HActivation(tanh) -> HDense(4) on 8
inputs, random weights, per-element activation bits from `trace_minmax` on 512 calibration
inputs (N(0, 1)); `to_proxy_model` with SAT quantisers (`--wrap`: WRAP) and the tanh as a
`UnaryLUT`. Writes to OUT: model.json + model_weights.h5 (`to_json` / `save_weights`) and
model.h5 (`save`), the proxy model as HGQ writes it; x.npy (`--n` inputs, N(0, 1.5): some
overflow the calibrated ranges, so the SAT modes matter); y_proxy.npy (the proxy model's
Keras output); y_hls4ml.npy (hls4ml 1.3's C simulation of model.json + model_weights.h5 read
by its Keras 2 JSON path, model-level ap_fixed<16,6>, which its bit-exact flow overrides);
timing.json (seconds of hls4ml's compile() and predict()).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick


def build(seed: int, wrap: bool, out: Path, n: int) -> None:
    """Write the proxy model, the inputs and the proxy model's output."""
    import tensorflow as tf
    from HGQ import HDense, HQuantize, to_proxy_model, trace_minmax
    from HGQ.layers import HActivation

    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(8,), name="x"),
            HQuantize(beta=0.0, name="inp_q"),
            HDense(16, activation="relu", beta=0.0, name="d1"),
            HDense(8, beta=0.0, name="d2"),
            HActivation("tanh", beta=0.0, name="act"),
            HDense(4, beta=0.0, name="d3"),
        ]
    )
    rng = np.random.default_rng(seed)
    calib = rng.normal(0.0, 1.0, (512, 8)).astype(np.float32)
    trace_minmax(model, calib, verbose=False)
    proxy = to_proxy_model(model, aggressive=wrap, unary_lut_max_table_size=1024)
    (out / "model.json").write_text(proxy.to_json())
    proxy.save_weights(str(out / "model_weights.h5"))
    proxy.save(str(out / "model.h5"))
    x = rng.normal(0.0, 1.5, (n, 8)).astype(np.float32)
    np.save(out / "x.npy", x)
    np.save(out / "y_proxy.npy", proxy.predict(x, verbose=0, batch_size=4096))


def hls4ml_csim(out: Path) -> dict[str, float]:
    """hls4ml 1.3's C simulation of the saved JSON + HDF5 (its Keras 2 JSON path)."""
    import hls4ml

    hls_model = hls4ml.converters.keras_v2_to_hls(
        {
            "KerasJson": str(out / "model.json"),
            "KerasH5": str(out / "model_weights.h5"),
            "OutputDir": str(out / "hls4ml_prj"),
            "ProjectName": "myproject",
            "Backend": "Vitis",
            "Part": "xcu250-figd2104-2L-e",
            "IOType": "io_parallel",
            "HLSConfig": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}},
        }
    )
    start = time.perf_counter()
    compile_quick(hls_model)
    compiled = time.perf_counter() - start
    x = np.load(out / "x.npy")
    start = time.perf_counter()
    y = np.asarray(hls_model.predict(x)).reshape(len(x), -1)
    predicted = time.perf_counter() - start
    np.save(out / "y_hls4ml.npy", y)
    return {"compile_s": compiled, "predict_s": predicted}


def main() -> None:
    """Build, save, run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wrap", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    build(args.seed, args.wrap, args.out, args.n)
    timing = hls4ml_csim(args.out)
    (args.out / "timing.json").write_text(json.dumps(timing))


if __name__ == "__main__":
    main()
