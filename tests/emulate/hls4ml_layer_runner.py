"""Run hls4ml's C simulation of a small Keras 3 model built from a layer list (hls4ml's python).

Usage: python hls4ml_layer_runner.py SPEC.json
SPEC: {"input_shape": [...], "layers": [{"class": "Dense", "config": {...}, "weights": [npy,
       ...]}, ...], "hls_config": {...HLSConfig...}, "x": X.npy, "y": out.npy, "out_dir": dir,
       optional "io_type", optional "trace": npz path; a layer may name its "inputs" (earlier layer names, "x_in")}. Builds the model with keras (KERAS_BACKEND from the environment),
sets each layer's weights from the .npy files, converts it with
`hls4ml.converters.convert_from_keras_model`, compiles, and writes `predict()` (float64) to
"y" (with "trace": every layer's output for the first 300 inputs, by hls4ml layer name). This is the oracle for one layer at a time: the test builds the same model on its side
with the same weights and compares bits. Kept out of pytest's collection (no test_ prefix).
"""

import json
import sys
from pathlib import Path

import numpy as np
from hls4ml_common import predict_to


def _layer(keras, entry):
    """A Keras layer from its entry; a wrapper (Bidirectional) takes its `inner` entry."""
    cls = getattr(keras.layers, entry["class"])
    if "inner" in entry:
        return cls(_layer(keras, entry["inner"]), **entry["config"])
    return cls(**entry["config"])


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import hls4ml
    import keras

    inputs = keras.Input(tuple(spec["input_shape"]), name="x_in")
    h = inputs
    layers = []
    outputs = {"x_in": inputs}  # by layer name, for entries with "inputs" (merges)
    for entry in spec["layers"]:
        layer = _layer(keras, entry)
        srcs = [outputs[n] for n in entry.get("inputs", [])]
        h = layer(h if not srcs else srcs[0] if len(srcs) == 1 else srcs)
        outputs[layer.name] = h
        layers.append((layer, entry.get("weights", [])))
    model = keras.Model(inputs, h)
    for layer, weights in layers:
        if weights:
            layer.set_weights([np.load(w) for w in weights])
    hls_model = hls4ml.converters.convert_from_keras_model(
        model,
        hls_config=spec["hls_config"],
        output_dir=spec["out_dir"],
        project_name="oracle",
        backend="Vitis",
        part="xcu250-figd2104-2L-e",
        io_type=spec.get("io_type", "io_parallel"),
    )
    predict_to(hls_model, spec)
    if "trace" in spec:
        for layer in hls_model.get_layers():
            layer.set_attr("trace", True)  # trace() writes and compiles again
        x = np.ascontiguousarray(np.load(spec["x"]).astype(np.float64)[:300])
        _, trace = hls_model.trace(x)
        np.savez(spec["trace"], **{k: np.asarray(v, dtype=np.float64) for k, v in trace.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
