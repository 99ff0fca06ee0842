"""End-to-end check of the HGQ2 peer: HGQ2 QDense model -> hls4ml Vitis C++ -> compile -> predict.

Run with the hls4ml venv's python (HGQ2 is installed into it) and KERAS_BACKEND=torch:
    KERAS_BACKEND=torch peers/hls4ml/bin/python scripts/peer_checks/check_hgq2.py WORKDIR
HGQ2 models are bit-exact in hls4ml 1.3: exits 1 unless hls4ml's C simulation equals the
Keras model's own output on every input.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def main(workdir: Path) -> int:
    import hgq
    import hls4ml
    import keras
    from hgq.layers import QDense

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(16,), name="features"),
            QDense(8, activation="relu", name="dense1"),
            QDense(4, name="dense2"),
        ]
    )
    hls_model = hls4ml.converters.convert_from_keras_model(
        model,
        hls_config={"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}},
        backend="Vitis",
        output_dir=str(workdir / "hls4ml_prj"),
        part="xcu250-figd2104-2L-e",
    )
    start = time.perf_counter()
    hls_model.compile()
    compile_s = time.perf_counter() - start
    x = np.random.default_rng(1).uniform(-4, 4, size=(256, 16)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    got = np.asarray(hls_model.predict(x)).reshape(expected.shape)
    mismatches = int(np.sum(got != expected))
    print(
        f"HGQ2 {hgq.__version__} + hls4ml {hls4ml.__version__}: compile {compile_s:.1f} s, "
        f"{mismatches} of {expected.size} outputs differ from Keras"
    )
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
