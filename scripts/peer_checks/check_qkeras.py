"""End-to-end check of the QKeras peer: QKeras model -> hls4ml 1.3 (Keras 2 path) -> predict.

Run with the qkeras venv's python:
    peers/qkeras/bin/python scripts/peer_checks/check_qkeras.py WORKDIR
Builds QDense(quantized_bits) -> QActivation('quantized_relu(4,2)') -> QDense, saves it as
Keras 2 JSON + HDF5 (as QKeras users do), converts it with hls4ml 1.3 and compares its C
simulation with QKeras's own output; exits 1 when they differ by more than the tolerance.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

# Inputs on a 2**-4 grid and 6-bit weights (5 fractional bits): every product and sum is exact
# in fixed<16,6>, so hls4ml's C simulation must equal QKeras's float32 output exactly.
TOLERANCE = 1e-6


def main(workdir: Path) -> int:
    import hls4ml
    import qkeras
    import tensorflow as tf

    workdir.mkdir(parents=True, exist_ok=True)
    tf.random.set_seed(0)
    inputs = tf.keras.Input(shape=(16,), name="features")
    h = qkeras.QDense(
        8,
        kernel_quantizer="quantized_bits(6,0,alpha=1)",
        bias_quantizer="quantized_bits(6,0,alpha=1)",
        name="qdense1",
    )(inputs)
    h = qkeras.QActivation("quantized_relu(4,2)", name="qrelu1")(h)
    out = qkeras.QDense(
        4,
        kernel_quantizer="quantized_bits(6,0,alpha=1)",
        bias_quantizer="quantized_bits(6,0,alpha=1)",
        name="qdense2",
    )(h)
    model = tf.keras.Model(inputs, out)
    (workdir / "model.json").write_text(model.to_json())
    model.save_weights(str(workdir / "model_weights.h5"))
    config = hls4ml.utils.config_from_keras_model(model, granularity="name")
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
    x = np.round(np.random.default_rng(1).uniform(-1, 1, size=(256, 16)) * 16) / 16
    x = x.astype(np.float32)
    expected = model.predict(x, verbose=0)
    got = np.asarray(hls_model.predict(x)).reshape(expected.shape)
    diff = float(np.max(np.abs(got - expected)))
    print(
        f"qkeras {qkeras.__version__}, tensorflow {tf.__version__}, hls4ml {hls4ml.__version__}: "
        f"compile {compile_s:.1f} s, max |hls4ml - qkeras| = {diff:.4g}"
    )
    return 0 if diff <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
