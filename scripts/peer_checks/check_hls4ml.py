"""End-to-end check of the hls4ml peer: Keras Dense model -> Vitis C++ -> compile -> predict.

Run with the hls4ml venv's python and KERAS_BACKEND=torch:
    KERAS_BACKEND=torch peers/hls4ml/bin/python scripts/peer_checks/check_hls4ml.py WORKDIR
Prints the largest |hls4ml - Keras| difference; exits 1 when it exceeds the tolerance.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

TOLERANCE = 0.05  # ap_fixed<16,6> default precision of a 16-8-4 network with small weights


def main(workdir: Path) -> int:
    import hls4ml
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(16,), name="features"),
            keras.layers.Dense(8, activation="relu", name="dense1"),
            keras.layers.Dense(4, activation="linear", name="dense2"),
        ]
    )
    config = hls4ml.utils.config_from_keras_model(model, granularity="model")
    config["Model"]["Precision"] = "ap_fixed<16,6>"
    hls_model = hls4ml.converters.convert_from_keras_model(
        model,
        hls_config=config,
        backend="Vitis",
        output_dir=str(workdir / "hls4ml_prj"),
        part="xcu250-figd2104-2L-e",
    )
    start = time.perf_counter()
    hls_model.compile()
    compile_s = time.perf_counter() - start
    x = np.random.default_rng(1).uniform(-1, 1, size=(64, 16)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    got = np.asarray(hls_model.predict(x)).reshape(expected.shape)
    diff = float(np.max(np.abs(got - expected)))
    print(
        f"hls4ml {hls4ml.__version__}: compile {compile_s:.1f} s, max |hls4ml - keras| = {diff:.4g}"
    )
    return 0 if diff <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
