"""Subtract, Average, Maximum and Minimum: float semantics, frontends (Keras, ONNX, PyTorch),
HLS C simulation == emulator (io_parallel, io_stream), estimate, and bit-exactness with
hls4ml 1.3's C simulation on a Keras 3 model with random weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hepinfer
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.ir.op import Op
from tests.ops.keras_oracle import MODEL_LEVEL, keras_file, oracle

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MERGES = {
    "Subtract": Op.SUBTRACT,
    "Average": Op.AVERAGE,
    "Maximum": Op.MAXIMUM,
    "Minimum": Op.MINIMUM,
}
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "a": {"Precision": {"result": "ap_fixed<12,5>"}},
        "b": {"Precision": {"result": "ap_fixed<14,4,AP_RND>"}},
        "subtract": {"Precision": {"result": "ap_fixed<10,4,AP_RND,AP_SAT>"}},
        "average": {"Precision": {"result": "ap_fixed<9,3,AP_RND_CONV>"}},
        "maximum": {"Precision": {"result": "ap_fixed<8,3,AP_TRN,AP_SAT>"}},
        "minimum": {"Precision": {"result": "ap_ufixed<10,4,AP_RND,AP_SAT>"}},
    },
}


def layers(rng: np.random.Generator, n: int = 6) -> list[dict[str, Any]]:
    def dense(name: str, units: int, src: str) -> dict[str, Any]:
        w = [rng.normal(0, 0.8, size=(n, units)), rng.normal(0, 0.5, size=units)]
        return {
            "class": "Dense",
            "config": {"units": units, "name": name},
            "weights": w,
            "inputs": [src],
        }

    out: list[dict[str, Any]] = [dense("a", n, "x_in"), dense("b", n, "x_in")]
    prev = "a"
    for cls in MERGES:
        name = cls.lower()
        out.append({"class": cls, "config": {"name": name}, "inputs": [prev, "b"]})
        prev = name
    out.append(dense("head", 3, prev))
    return out


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    spec = layers(np.random.default_rng(31))
    return keras_file((6,), spec, tmp_path_factory.mktemp("k") / "merges.keras"), spec


def test_keras_maps_and_float_mode(keras_model: tuple[Path, list]) -> None:
    model = hepinfer.compile(keras_model[0], MODEL_LEVEL)
    assert [n.op for n in model.graph.nodes if n.op in MERGES.values()] == list(MERGES.values())
    x = np.random.default_rng(1).normal(0, 2, size=(300, 6))
    g = {n.name: n for n in model.graph.nodes}
    a = x @ g["a"].weights["kernel"] + g["a"].weights["bias"]
    b = x @ g["b"].weights["kernel"] + g["b"].weights["bias"]
    h = np.minimum(np.maximum((a - b + b) / 2, b), b)
    want = h @ g["head"].weights["kernel"] + g["head"].weights["bias"]
    np.testing.assert_allclose(model.predict(x, mode="float"), want, rtol=1e-9, atol=1e-9)


def test_onnx_and_torch(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    n = 4
    w = np.random.default_rng(2).normal(size=(n, n)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
        helper.make_node("Sub", ["x", "h"], ["s"], name="sub"),
        helper.make_node("Max", ["s", "h"], ["m"], name="max"),
        helper.make_node("Min", ["m", "x"], ["y"], name="min"),
    ]
    graph = helper.make_graph(
        nodes,
        "merges",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n])],
        [numpy_helper.from_array(w, "w")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 10
    onnx.save(proto, str(tmp_path / "m.onnx"))
    model = hepinfer.compile(tmp_path / "m.onnx", MODEL_LEVEL)
    assert [n.op for n in model.graph.nodes][-3:] == [Op.SUBTRACT, Op.MAXIMUM, Op.MINIMUM]
    x = np.random.default_rng(3).normal(size=(100, n)).astype(np.float32)
    (ref,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x})
    np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)
    torch = pytest.importorskip("torch")
    from hepinfer.frontends.torch import from_torch_module

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(n, n)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.fc(x)
            return torch.minimum(torch.maximum(x - h, h), x)

    ops = [node.op for node in from_torch_module(Net(), (n,)).nodes]
    assert ops[-3:] == [Op.SUBTRACT, Op.MAXIMUM, Op.MINIMUM]


def test_csim_equals_emulator_and_estimate(
    keras_model: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    model = hepinfer.compile(keras_model[0], MIXED)
    x = np.random.default_rng(6).normal(0, 3, size=(400, 6))
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):  # Xilinx's ap_types (skips if absent), our own
            if headers == "xilinx" and find_ap_types_headers() is None:
                continue
            ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
            np.testing.assert_array_equal(ours.reshape(len(x), -1), np.asarray(model.predict(x)))
    names = {layer.name for layer in model.estimate().layers}
    assert {"subtract", "average", "maximum", "minimum"} <= names


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    keras_model: tuple[Path, list], tmp_path: Path, config: dict[str, Any]
) -> None:
    path, spec = keras_model
    x = np.random.default_rng(7).normal(0, 2, size=(3000, 6))
    theirs, trace = oracle((6,), spec, x, tmp_path / "h", config, trace=True)
    model = hepinfer.compile(path, config)
    mine = model.trace(x[:300])
    for name in ("subtract", "average", "maximum", "minimum"):
        got = np.asarray(mine[name]).reshape(300, -1)
        assert int(np.count_nonzero(got != trace[name].reshape(300, -1))) == 0, name
        assert np.unique(got).size > 50, name
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs)) == 0
