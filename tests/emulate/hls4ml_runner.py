"""Run hls4ml's C simulation of a Keras 2 JSON + HDF5 model (executed with hls4ml's python).

Usage: python hls4ml_runner.py SPEC.json
SPEC: {"json": path, "h5": path, "hls_config": {...HLSConfig...}, "x": X.npy, "y": out.npy,
       "out_dir": project dir, optional "io_type"}. Writes hls4ml's predict() output (float64) to "y".
Kept out of pytest's collection (no test_ prefix); the oracle test calls it in a subprocess.
"""

import json
import sys
from pathlib import Path

from hls4ml_common import dense_keras_model, predict_to


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
    return predict_to(hls4ml.converters.keras_v2_to_hls(config), spec)


def auto_types(spec: dict, granularity: str) -> int:
    """Rebuild a Dense-only Keras 2 model in Keras 3 (hls4ml's config_from_keras_model needs a
    model object), take hls4ml's own configuration of that granularity, convert and predict.
    """
    import hls4ml

    model = dense_keras_model(spec)
    config = hls4ml.utils.config_from_keras_model(model, granularity=granularity)
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, output_dir=spec["out_dir"], backend="Vitis", io_type="io_parallel"
    )
    return predict_to(hls_model, spec)


if __name__ == "__main__":
    sys.exit(main())
