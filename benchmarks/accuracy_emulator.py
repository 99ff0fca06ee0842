"""Accuracy of the fixed-point emulator against the float models (issue 3, acceptance 1).

For every example model in ../shared/data (standard-normal inputs):
- decision agreement (argmax; > 0.5 for a single sigmoid output) with the float model, with
  hepinfer's default configuration (`Config()`) and with hls4ml's default (`Config.hls4ml()`,
  model-level ap_fixed<16,6>), 20,000 inputs;
- the largest |fixed - float| of the final outputs with ap_fixed<32,16> everywhere, in
  hepinfer's meaning (`Config.default("ap_fixed<32,16>")`) and in hls4ml's
  (`Config.hls4ml("ap_fixed<32,16>")`), 5,000 inputs, and the largest |float output|.

Run: python benchmarks/accuracy_emulator.py
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HEPINFER_TEST_DATA", REPO.parent / "shared" / "data"))
EXAMPLES = DATA / "hls4ml-example-models"
MODELS: list[tuple[str, Path | tuple[Path, Path]]] = [
    ("KERAS_3layer", EXAMPLES / "keras/KERAS_3layer.json"),
    (
        "KERAS_3layer (70 % pruned)",
        (
            EXAMPLES / "keras/KERAS_3layer.json",
            EXAMPLES / "keras/KERAS_3layer_70pruned_retrained_weights.h5",
        ),
    ),
    ("KERAS_3layer_batch_norm", EXAMPLES / "keras/KERAS_3layer_batch_norm.json"),
    ("KERAS_1layer (sigmoid)", EXAMPLES / "keras/KERAS_1layer.json"),
    (
        "KERAS_dense_16x100x100x100x100x100x5",
        EXAMPLES / "keras/KERAS_dense_16x100x100x100x100x100x5.json",
    ),
    ("qkeras_3layer", EXAMPLES / "keras/qkeras_3layer.json"),
    ("onnx three_layer_keras", EXAMPLES / "onnx/three_layer_keras.onnx"),
    ("onnx three_layer_pytorch (untrained)", EXAMPLES / "onnx/three_layer_pytorch.onnx"),
    ("onnx three_layer_bn_pytorch", EXAMPLES / "onnx/three_layer_bn_pytorch.onnx"),
    ("onnx two_layer_keras (sigmoid)", EXAMPLES / "onnx/two_layer_keras.onnx"),
    ("pytorch three_layer_model", EXAMPLES / "pytorch/three_layer_model.pt"),
    ("pytorch two_layer_model (sigmoid)", EXAMPLES / "pytorch/two_layer_model.pt"),
    ("qonnx qkeras_jettagging", DATA / "qonnx/qkeras_jettagging.onnx"),
    ("KERAS_conv1d_small", EXAMPLES / "keras/KERAS_conv1d_small.json"),
    ("onnx conv2d_small_keras", EXAMPLES / "onnx/conv2d_small_keras.onnx"),
]


def decision(y: np.ndarray) -> np.ndarray:
    return y.argmax(1) if y.shape[1] > 1 else (y[:, 0] > 0.5)


def main() -> int:
    import hepinfer
    from hepinfer import Config

    warnings.simplefilter("ignore")
    print(
        "| model | decision agreement, hepinfer default | hls4ml default ap_fixed<16,6> | "
        "ap_fixed<32,16> max abs error, hepinfer's meaning | hls4ml's meaning | max abs float output |"
    )
    print("|---|---|---|---|---|---|")
    for label, path in MODELS:
        cells = [label]
        for config in (Config(), Config.hls4ml()):
            model = hepinfer.compile(path, config)
            shape = model.graph.inputs[0].out.shape
            x = np.random.default_rng(1).standard_normal((20_000, *shape))
            if len(shape) > 1:
                cells.append("(not a tagger)")
                continue
            y, f = model.predict(x), model.predict(x, mode="float")
            cells.append(f"{(decision(y) == decision(f)).mean() * 100:.2f} %")
        for config in (Config.default("ap_fixed<32,16>"), Config.hls4ml("ap_fixed<32,16>")):
            model = hepinfer.compile(path, config)
            x = np.random.default_rng(0).standard_normal((5000, *model.graph.inputs[0].out.shape))
            y, f = model.predict(x), model.predict(x, mode="float")
            cells.append(f"{np.abs(y - f).max():.1e}")
        cells.append(f"{np.abs(f).max():.3g}")
        print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
