"""What the hls4ml runner scripts share (imported by them inside hls4ml's python; the runners
put this folder on sys.path as scripts do; not collected by pytest).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick


def dense_keras_model(spec: dict):
    """A Dense-only Keras 2 JSON + h5 model (spec "json", "h5") rebuilt in Keras 3 with its
    weights: hls4ml's config_from_keras_model needs a model object.
    """
    import h5py
    import keras

    arch = json.loads(Path(spec["json"]).read_text())
    layers = arch["config"]["layers"]
    inputs = keras.Input(
        tuple(layers[0]["config"]["batch_input_shape"][1:]), name=layers[0]["config"]["name"]
    )
    h = inputs
    with h5py.File(spec["h5"], "r") as f:
        for layer in layers[1:]:
            cfg = layer["config"]
            dense = keras.layers.Dense(cfg["units"], activation=cfg["activation"], name=cfg["name"])
            h = dense(h)
            g = f[cfg["name"]][cfg["name"]]
            dense.set_weights([g["kernel:0"][()], g["bias:0"][()]])
    return keras.Model(inputs, h)


def predict_to(hls_model, spec: dict) -> int:
    """Compile `hls_model`, predict the inputs of spec "x" and save them (float64) to "y";
    with spec "types_out", also write every layer's types ({layer: {"result_t": ...}}, JSON);
    with spec "timing" (benchmarks), build with hls4ml's own flags and write the seconds of
    `predict()` there ({"predict_s", "n"}).
    """
    if "types_out" in spec:
        types = {
            layer.name: {k: str(v.precision) for k, v in layer.types.items()}
            for layer in hls_model.get_layers()
        }
        Path(spec["types_out"]).write_text(json.dumps(types))
    if "timing" in spec:  # benchmarks: hls4ml's own -O3 build, and predict() timed
        hls_model.compile()
    else:
        compile_quick(hls_model)
    x = np.ascontiguousarray(np.load(spec["x"]).astype(np.float64))
    start = time.perf_counter()
    y = np.asarray(hls_model.predict(x), dtype=np.float64)
    seconds = time.perf_counter() - start
    np.save(spec["y"], y.reshape(len(x), -1))
    if "timing" in spec:
        Path(spec["timing"]).write_text(json.dumps({"predict_s": seconds, "n": len(x)}))
    return 0
