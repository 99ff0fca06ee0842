"""Run hls4ml's C simulation of a Keras 2 JSON + HDF5 model (executed with hls4ml's python).

Usage: python hls4ml_runner.py SPEC.json
SPEC: {"json": path, "h5": path, "hls_config": {...HLSConfig...}, "x": X.npy, "y": out.npy,
       "out_dir": project dir}. Writes hls4ml's predict() output (float64) to "y".
Kept out of pytest's collection (no test_ prefix); the oracle test calls it in a subprocess.
"""

import json
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import hls4ml

    config = {
        "KerasJson": spec["json"],
        "KerasH5": spec["h5"],
        "OutputDir": spec["out_dir"],
        "ProjectName": "oracle",
        "Backend": "Vitis",
        "Part": "xcu250-figd2104-2L-e",
        "ClockPeriod": 5,
        "IOType": "io_parallel",
        "HLSConfig": spec["hls_config"],
    }
    model = hls4ml.converters.keras_v2_to_hls(config)
    model.compile()
    x = np.load(spec["x"]).astype(np.float64)
    y = np.asarray(model.predict(np.ascontiguousarray(x)), dtype=np.float64)
    np.save(spec["y"], y.reshape(len(x), -1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
