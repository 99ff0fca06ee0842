"""The demo's numpy MLP: training and the ONNX export read back by onnxruntime and hepinfer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

import hepinfer
from hepinfer.demo.data import make_dataset
from hepinfer.demo.model import INPUT_NAME, LAYERS, to_onnx, train


def test_train_and_export(tmp_path: Path) -> None:
    import onnxruntime as ort

    data = make_dataset(8000, 2000, seed=0)
    mlp = train(data, epochs=2, seed=0)
    assert tuple(w.shape[0] for w in mlp.weights) == LAYERS[:-1]
    accuracy = (mlp.predict(data.x_test).argmax(axis=1) == data.y_test).mean()
    assert accuracy > 0.5  # 5 classes: chance is 0.2

    path = to_onnx(mlp, tmp_path / "m.onnx")
    model = onnx.load(str(path))
    assert model.ir_version == 10
    assert model.opset_import[0].version == 13
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Relu"] * 3 + ["Gemm", "Softmax"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = data.x_test[:300]
    y_ort = session.run(None, {INPUT_NAME: x.astype(np.float32)})[0]
    np.testing.assert_allclose(y_ort, mlp.predict(x), atol=1e-5)
    y_float = hepinfer.compile(path).predict(x, mode="float")
    np.testing.assert_allclose(np.asarray(y_float), mlp.predict(x), atol=1e-5)
