"""Helper of bench_emulator.py, run with hls4ml's own python: time hls4ml on the jet tagger.

Usage: python _hls4ml_jet_tagger.py SPEC.json   (SPEC: json + h5, or keras_file (a Keras 3
       `.keras` file); hls_config, x, y, out_dir, result, optional io_type)
Writes {"convert_s", "compile_s", "first_predict_s", "predict_s", "predict_rate",
"predict_cpu_rate", "n"} to SPEC["result"] and the predictions to SPEC["y"] (rates: best of
three, by wall-clock and by this process's CPU time).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import hls4ml

    x = np.ascontiguousarray(np.load(spec["x"]).astype(np.float64))
    t0 = time.perf_counter()
    if "keras_file" in spec:
        import keras

        model = hls4ml.converters.convert_from_keras_model(
            keras.models.load_model(spec["keras_file"], compile=False),
            hls_config=spec["hls_config"],
            output_dir=spec["out_dir"],
            project_name="bench",
            backend="Vitis",
            part="xcu250-figd2104-2L-e",
            io_type=spec.get("io_type", "io_parallel"),
        )
    else:
        model = hls4ml.converters.keras_v2_to_hls(
            {
                "KerasJson": spec["json"],
                "KerasH5": spec["h5"],
                "OutputDir": spec["out_dir"],
                "ProjectName": "bench",
                "Backend": "Vitis",
                "Part": "xcu250-figd2104-2L-e",
                "IOType": spec.get("io_type", "io_parallel"),
                "HLSConfig": spec["hls_config"],
            }
        )
    t1 = time.perf_counter()
    model.compile()
    t2 = time.perf_counter()
    model.predict(x[:1])
    t3, c3 = time.perf_counter(), time.process_time()
    y = np.asarray(model.predict(x), dtype=np.float64)
    t4, c4 = time.perf_counter(), time.process_time()
    np.save(spec["y"], y.reshape(len(x), -1))
    rates = [len(x) / (t4 - t3)]
    cpu_rates = [len(x) / (c4 - c3)]
    part = x[: max(1, len(x) // 5)]
    for _ in range(2):  # two more timings on a fifth of the inputs: best rate of three
        t, c = time.perf_counter(), time.process_time()
        model.predict(part)
        rates.append(len(part) / (time.perf_counter() - t))
        cpu_rates.append(len(part) / (time.process_time() - c))
    result = {
        "predict_rate": max(rates),
        "predict_cpu_rate": max(cpu_rates),
        "convert_s": t1 - t0,
        "compile_s": t2 - t1,
        "first_predict_s": t3 - t2,
        "predict_s": t4 - t3,
        "n": len(x),
    }
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
