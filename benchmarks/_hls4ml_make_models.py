"""Helper of bench_hls.py, run with hls4ml's own python (Keras 3): write the benchmark's Keras
models that are not among the shared files, as `.keras` files.

Usage: python _hls4ml_make_models.py SPEC.json
SPEC: {"out": folder, "models": [names], "conv2d_npz": optional arrays of conv2d_small_keras}
Models (random weights, seed 0):
- conv2d_jet: the Conv2D jet-image tagger of issue 15: 25x25x1 -> Conv2D(5, 3x3, stride 3,
  'same') ReLU -> Conv2D(2, 5x5, stride 2, 'same') ReLU -> Flatten -> Dense(10) ReLU ->
  Dense(5) softmax;
- mlp500: Dense 16 -> 500 x5 (ReLU) -> 5 softmax;
- conv2d_small_keras: the ONNX example rebuilt in Keras from its arrays (`conv2d_npz`), for
  hls4ml (hepinfer compiles the ONNX file itself).
"""

import json
import sys
from pathlib import Path

import numpy as np


def conv2d_jet(keras):
    inputs = keras.Input((25, 25, 1), name="x_in")
    h = keras.layers.Conv2D(5, 3, strides=3, padding="same", activation="relu", name="c1")(inputs)
    h = keras.layers.Conv2D(2, 5, strides=2, padding="same", activation="relu", name="c2")(h)
    h = keras.layers.Flatten(name="fl")(h)
    h = keras.layers.Dense(10, activation="relu", name="d1")(h)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="d2")(h))


def mlp500(keras):
    inputs = keras.Input((16,), name="x_in")
    h = inputs
    for i in range(5):
        h = keras.layers.Dense(500, activation="relu", name=f"d{i}")(h)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="out")(h))


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import keras

    out = Path(spec["out"])
    for name in spec["models"]:
        if name == "conv2d_small_keras":
            sys.path.insert(0, str(Path(__file__).parent))
            from _hls4ml_predict import conv2d_model

            conv2d_model(spec["conv2d_npz"]).save(out / f"{name}.keras")
            continue
        model = {"conv2d_jet": conv2d_jet, "mlp500": mlp500}[name](keras)
        rng = np.random.default_rng(0)
        model.set_weights(
            [
                rng.normal(0, 1 / np.sqrt(w.shape[0]) if w.ndim == 2 else 0.5, w.shape).astype(
                    "float32"
                )
                for w in model.get_weights()
            ]
        )
        model.save(out / f"{name}.keras")
    return 0


if __name__ == "__main__":
    sys.exit(main())
