"""Run hls4ml's C simulation of a Keras 2 JSON + HDF5 model (hls4ml's python, no Keras needed).

Usage: python hls4ml_json_runner.py SPEC.json
SPEC: {"json": arch.json, "h5": weights.h5, "hls_config": {...HLSConfig...}, "x": X.npy,
       "y": out.npy, "out_dir": dir, optional "io_type", optional "trace": npz path}.
Converts with hls4ml's Keras 2 path (`keras_v2_to_hls`, which reads the JSON and the HDF5
weights itself, set up as `convert_from_keras_model` does), compiles, and writes `predict()` (float64) to "y" (with
"trace": every layer's output for the first 300 inputs, by hls4ml layer name). The oracle for
layers whose Keras 3 handler hls4ml 1.3 cannot run (SeparableConv1D/2D). Kept out of pytest's
collection (no test_ prefix).
"""

import json
import sys
from pathlib import Path

import numpy as np
from hls4ml_common import predict_to


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())

    from hls4ml.converters import _check_hls_config, _check_model_config
    from hls4ml.converters.keras_v2_to_hls import keras_v2_to_hls
    from hls4ml.utils.config import create_config

    # what convert_from_keras_model does, with the JSON + HDF5 files instead of a model object
    config = create_config(
        output_dir=spec["out_dir"],
        project_name="oracle",
        backend="Vitis",
        part="xcu250-figd2104-2L-e",
        io_type=spec.get("io_type", "io_parallel"),
    )
    config["KerasJson"], config["KerasH5"] = spec["json"], spec["h5"]
    config["HLSConfig"] = {"Model": _check_model_config(spec["hls_config"].get("Model"))}
    config["HLSConfig"]["Model"]["BitExact"] = None
    _check_hls_config(config, spec["hls_config"])
    hls_model = keras_v2_to_hls(config)
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
