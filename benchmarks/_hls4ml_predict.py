"""Helper of bench_emulator_batch1.py, run with hls4ml's own python: hls4ml `predict()` one
sample per call and on a whole batch.

Usage: python _hls4ml_predict.py SPEC.json
SPEC: "model" ("keras": "json" + "h5" files; "conv2d": a Keras Conv2D(same, ReLU) -> Flatten ->
Dense -> Softmax rebuilt from the arrays of "npz": kernel, bias, dense_kernel, dense_bias,
input_shape; "pytorch": the whole-module pickle "pt" with "input_shape", through hls4ml's
PyTorch converter), "hls_config", "x", "y", "out_dir", "result", "n_single".
Writes {"compile_s", "single_us", "single_cpu_us", "batch_rate", "n"} to SPEC["result"], the batch's outputs to
SPEC["y"].
"""

import json
import sys
import time
from pathlib import Path

import numpy as np


def conv2d_model(npz: str):
    import keras

    a = np.load(npz)
    inputs = keras.Input(tuple(int(v) for v in a["input_shape"]), name="x_in")
    conv = keras.layers.Conv2D(
        a["kernel"].shape[-1], a["kernel"].shape[:2], padding="same", activation="relu", name="conv"
    )
    h = keras.layers.Flatten(name="flat")(conv(inputs))
    dense = keras.layers.Dense(a["dense_kernel"].shape[-1], activation="softmax", name="dense")
    out = dense(h)
    conv.set_weights([a["kernel"], a["bias"]])
    dense.set_weights([a["dense_kernel"], a["dense_bias"]])
    return keras.Model(inputs, out)


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import hls4ml

    common = {
        "output_dir": spec["out_dir"],
        "backend": "Vitis",
        "part": "xcu250-figd2104-2L-e",
        "io_type": "io_parallel",
    }
    if spec["model"] == "keras":
        model = hls4ml.converters.keras_v2_to_hls(
            {
                "KerasJson": spec["json"],
                "KerasH5": spec["h5"],
                "OutputDir": spec["out_dir"],
                "ProjectName": "bench",
                "Backend": "Vitis",
                "Part": common["part"],
                "IOType": "io_parallel",
                "HLSConfig": spec["hls_config"],
            }
        )
    elif spec["model"] == "pytorch":
        import torch

        module = torch.load(spec["pt"], map_location="cpu", weights_only=False).eval()
        shape = tuple(int(v) for v in spec["input_shape"])
        config = hls4ml.utils.config_from_pytorch_model(module, shape, granularity="model")
        config["Model"].update(spec["hls_config"]["Model"])
        model = hls4ml.converters.convert_from_pytorch_model(
            module, hls_config=config, project_name="bench", **common
        )
    else:
        keras_model = conv2d_model(spec["npz"])
        model = hls4ml.converters.convert_from_keras_model(
            keras_model, hls_config=spec["hls_config"], project_name="bench", **common
        )
    t0 = time.perf_counter()
    model.compile()
    compile_s = time.perf_counter() - t0
    x = np.ascontiguousarray(np.load(spec["x"]).astype(np.float64))
    model.predict(x[:1])
    n_single = min(int(spec["n_single"]), len(x))
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n_single):
        model.predict(x[i : i + 1])
    single_us = (time.perf_counter() - t0) / n_single * 1e6
    single_cpu_us = (time.process_time() - c0) / n_single * 1e6
    rates = []
    y = None
    for _ in range(2):
        t0 = time.perf_counter()
        y = np.asarray(model.predict(x), dtype=np.float64)
        rates.append(len(x) / (time.perf_counter() - t0))
    assert y is not None
    np.save(spec["y"], y.reshape(len(x), -1))
    result = {
        "compile_s": compile_s,
        "single_us": single_us,
        "single_cpu_us": single_cpu_us,
        "batch_rate": max(rates),
        "n": len(x),
    }
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
