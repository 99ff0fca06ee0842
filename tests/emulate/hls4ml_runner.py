"""Run hls4ml's C simulation of a Keras 2 JSON + HDF5 model (executed with hls4ml's python).

Usage: python hls4ml_runner.py SPEC.json
SPEC: {"json": path, "h5": path, "hls_config": {...HLSConfig...}, "x": X.npy, "y": out.npy,
       "out_dir": project dir, optional "io_type"}. Writes hls4ml's predict() output (float64) to "y".
Kept out of pytest's collection (no test_ prefix); the oracle test calls it in a subprocess.
"""

import json
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import hls4ml

    hls_config = spec["hls_config"]
    if isinstance(hls_config, str):  # "granularity=name": hls4ml's own starting configuration
        return auto_types(spec, hls_config.split("=", 1)[1])
    config = {
        "KerasJson": spec["json"],
        "KerasH5": spec["h5"],
        "OutputDir": spec["out_dir"],
        "ProjectName": "oracle",
        "Backend": "Vitis",
        "Part": "xcu250-figd2104-2L-e",
        "ClockPeriod": 5,
        "IOType": spec.get("io_type", "io_parallel"),
        "HLSConfig": hls_config,
    }
    model = hls4ml.converters.keras_v2_to_hls(config)
    model.compile()
    x = np.load(spec["x"]).astype(np.float64)
    y = np.asarray(model.predict(np.ascontiguousarray(x)), dtype=np.float64)
    np.save(spec["y"], y.reshape(len(x), -1))
    return 0


def auto_types(spec: dict, granularity: str) -> int:
    """Rebuild a Dense-only Keras 2 model in Keras 3 (hls4ml's config_from_keras_model needs a
    model object), take hls4ml's own configuration of that granularity, convert and predict.
    """
    import h5py
    import hls4ml
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
    model = keras.Model(inputs, h)
    config = hls4ml.utils.config_from_keras_model(model, granularity=granularity)
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, output_dir=spec["out_dir"], backend="Vitis", io_type="io_parallel"
    )
    hls_model.compile()
    x = np.load(spec["x"]).astype(np.float64)
    y = np.asarray(hls_model.predict(np.ascontiguousarray(x)), dtype=np.float64)
    np.save(spec["y"], y.reshape(len(x), -1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
