"""ONNX models run through QONNX's clean-up and hls4ml 1.3's ONNX converter (run with the hls4ml
peer's python once the `qonnx` peer is set up; not collected by pytest).

Usage: python onnx_hls4ml_runner.py SPEC.json
SPEC: {"jobs": [{"onnx": model file, "x" (.npy inputs, the ONNX model's layout), "out" (folder),
"config": hls4ml's hls_config, "float" (optional: also run QONNX's executor)}, ...]}.
Each model is prepared as hls4ml's documentation says (QONNX `cleanup_model`,
`ConvertToChannelsLastAndClean`, `GemmToMatMul`, `cleanup_model`), converted with
`convert_from_onnx_model` (Vitis, io_parallel), compiled and run. Writes to "out":
clean.onnx (the model hls4ml converts), y_hls4ml.npy (its C simulation, float64, one row per
input, several outputs side by side), layers.json (hls4ml's layers after its passes: name, class, result type) and
timing.json (seconds of hls4ml's predict()); with "float", y_qonnx.npy: the original model run
by QONNX's own executor (float; it runs `Quant` nodes, which onnxruntime cannot), batched.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hls4ml_quick import compile_quick


def prepare(path: str):  # type: ignore[no-untyped-def]
    """The model as hls4ml 1.3's ONNX converter takes it."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(path))
    model = model.transform(ConvertToChannelsLastAndClean())
    model = model.transform(GemmToMatMul())
    return cleanup_model(model)


def qonnx_float(path: str, x: np.ndarray) -> np.ndarray:
    """The model's float output on `x` from QONNX's executor (one run: the batch axis resized)."""
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    proto = onnx.load(path)
    for value in (*proto.graph.input, *proto.graph.output):
        if value.type.tensor_type.shape.dim:
            value.type.tensor_type.shape.dim[0].dim_value = len(x)
    model = cleanup_model(ModelWrapper(proto))
    outs = execute_onnx(model, {model.graph.input[0].name: x})
    return rows([outs[o.name] for o in model.graph.output], len(x))


def rows(outputs, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """One or several outputs as one float64 row per input (several: side by side)."""
    parts = outputs if isinstance(outputs, list) else [outputs]
    return np.concatenate([np.asarray(p, dtype=np.float64).reshape(n, -1) for p in parts], axis=1)


def run(job: dict) -> None:
    import hls4ml

    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    model = prepare(job["onnx"])
    model.save(str(out / "clean.onnx"))
    hls_model = hls4ml.converters.convert_from_onnx_model(
        model,
        hls_config=job["config"],
        backend="Vitis",
        io_type="io_parallel",
        output_dir=str(out / "hls4ml_prj"),
        part="xcu250-figd2104-2L-e",
    )
    compile_quick(hls_model)
    x = np.ascontiguousarray(np.load(job["x"]).astype(np.float32))
    start = time.perf_counter()
    y = rows(hls_model.predict(x), len(x))
    seconds = time.perf_counter() - start
    (out / "timing.json").write_text(json.dumps({"hls4ml_predict_s": seconds, "n": len(x)}))
    np.save(out / "y_hls4ml.npy", y)
    if job.get("float"):
        np.save(out / "y_qonnx.npy", qonnx_float(job["onnx"], x))
    layers = [
        [layer.name, layer.class_name, str(layer.get_output_variable().type.precision)]
        for layer in hls_model.get_layers()
    ]
    (out / "layers.json").write_text(json.dumps(layers))


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    for job in spec["jobs"]:
        run(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
