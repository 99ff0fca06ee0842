"""End-to-end check of the QONNX peer: ONNX Conv/Gemm -> QONNX clean-up -> hls4ml -> predict.

Run with the hls4ml venv's python (QONNX is installed into it):
    peers/hls4ml/bin/python scripts/peer_checks/check_qonnx.py WORKDIR
Builds a channels-first ONNX model (Conv 3x3 -> Relu -> Flatten -> Gemm), prepares it as
hls4ml's documentation says (QONNX `cleanup_model`, `ConvertToChannelsLastAndClean`,
`GemmToMatMul`, `cleanup_model`), converts it with `convert_from_onnx_model` at
`ap_fixed<16,6>`, compiles and predicts. Weights and inputs are on quarter grids small enough
that every sum is exact at that type: exits 1 unless hls4ml's C simulation equals onnxruntime
on every input.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def build(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """The channels-first model: x [N,1,6,6] -> Conv(2, 3x3) -> Relu -> Flatten -> Gemm(5)."""
    from onnx import TensorProto, helper, numpy_helper

    def grid(lo: int, hi: int, shape: tuple[int, ...]) -> np.ndarray:
        return (rng.integers(lo, hi + 1, shape) / 4).astype(np.float32)

    inits = [
        numpy_helper.from_array(grid(-2, 2, (2, 1, 3, 3)), "w1"),
        numpy_helper.from_array(grid(-2, 2, (2,)), "b1"),
        numpy_helper.from_array(grid(-1, 1, (5, 32)), "w2"),
        numpy_helper.from_array(grid(-2, 2, (5,)), "b2"),
    ]
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "w1", "b1"],
            ["c"],
            name="conv",
            kernel_shape=[3, 3],
            strides=[1, 1],
            pads=[0, 0, 0, 0],
            dilations=[1, 1],
            group=1,
        ),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="dense", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "qonnx_check",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 10  # onnx 1.23 writes IR 14, which onnxruntime refuses
    return model


def main(workdir: Path) -> int:
    from importlib.metadata import version

    import hls4ml
    import onnxruntime as ort
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    model = build(rng)
    x = (rng.integers(-4, 5, (256, 1, 6, 6)) / 4).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {"x": row[None]})[0] for row in x])

    wrapped = cleanup_model(ModelWrapper(model))
    wrapped = wrapped.transform(ConvertToChannelsLastAndClean())
    wrapped = wrapped.transform(GemmToMatMul())
    wrapped = cleanup_model(wrapped)
    hls_model = hls4ml.converters.convert_from_onnx_model(
        wrapped,
        hls_config={"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}},
        backend="Vitis",
        output_dir=str(workdir / "hls4ml_prj"),
        part="xcu250-figd2104-2L-e",
    )
    start = time.perf_counter()
    hls_model.compile()
    compile_s = time.perf_counter() - start
    got = np.asarray(hls_model.predict(x)).reshape(expected.shape)
    mismatches = int(np.sum(got != expected))
    print(
        f"QONNX {version('qonnx')} + hls4ml {hls4ml.__version__}: compile {compile_s:.1f} s, "
        f"{mismatches} of {expected.size} outputs differ from onnxruntime"
    )
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
