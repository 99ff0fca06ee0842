"""Selu, Softsign, ThresholdedReLU and PReLU: float semantics, frontends (Keras, ONNX,
PyTorch), HLS C simulation == emulator (io_parallel, io_stream), estimate, and bit-exactness
with hls4ml 1.3's C simulation on a Keras 3 model with random weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.ir.op import Op
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras_file, oracle

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NEW = (Op.SELU, Op.SOFTSIGN, Op.THRESHOLDED_RELU, Op.PRELU)

MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "selu": {
            "Precision": {"result": "ap_fixed<14,5,AP_RND,AP_SAT>", "table": "ap_fixed<16,4>"}
        },
        "softsign": {"Precision": {"result": "ap_fixed<10,2,AP_RND_CONV>"}},
        "trelu": {"Precision": {"result": "ap_ufixed<12,5>", "param": "ap_fixed<8,3>"}},
        "prelu": {"Precision": {"result": "ap_fixed<18,7>", "param": "ap_fixed<8,2,AP_RND>"}},
    },
}


def layers(rng: np.random.Generator, n: int = 8) -> list[dict[str, Any]]:
    def dense(name: str, units: int) -> dict[str, Any]:
        w = [rng.normal(0, 0.7, size=(n, units)), rng.normal(0, 0.5, size=units)]
        return {"class": "Dense", "config": {"units": units, "name": name}, "weights": w}

    return [
        dense("fc1", n),
        {"class": "Activation", "config": {"activation": "selu", "name": "selu"}},
        dense("fc2", n),
        {"class": "Activation", "config": {"activation": "softsign", "name": "softsign"}},
        dense("fc3", n),
        {"class": "ReLU", "config": {"threshold": 0.375, "name": "trelu"}},
        dense("fc4", n),
        {"class": "PReLU", "config": {"name": "prelu"}, "weights": [rng.normal(0, 0.4, size=n)]},
        dense("out", 3),
    ]


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    spec = layers(np.random.default_rng(21))
    return keras_file((8,), spec, tmp_path_factory.mktemp("k") / "acts.keras"), spec


def test_float_semantics() -> None:
    x = np.linspace(-6, 6, 241)
    from hepinfer.ops import prelu, selu, softsign, thresholded_relu

    alpha, scale = 1.6732632423543772, 1.0507009873554805
    want = scale * np.where(x > 0, x, alpha * (np.exp(x) - 1))
    np.testing.assert_allclose(selu.run_float(None, [x]), want, rtol=1e-12)  # type: ignore[arg-type]
    np.testing.assert_allclose(softsign.run_float(None, [x]), x / (1 + np.abs(x)), rtol=1e-12)  # type: ignore[arg-type]
    from hepinfer.ir import Node, TensorType

    node = Node("t", Op.THRESHOLDED_RELU, ("x",), TensorType(x.shape), {"theta": 0.5})
    np.testing.assert_array_equal(thresholded_relu.run_float(node, [x]), np.where(x > 0.5, x, 0))
    a = np.random.default_rng(0).normal(size=x.shape)
    node = Node("p", Op.PRELU, ("x",), TensorType(x.shape), {}, {"alpha": a})
    np.testing.assert_allclose(prelu.run_float(node, [x]), np.where(x > 0, x, a * x))


def test_keras_float_mode_matches_keras(keras_model: tuple[Path, list]) -> None:
    keras = import_keras()
    path, _ = keras_model
    model = hepinfer.compile(path, MODEL_LEVEL)
    assert [n.op for n in model.graph.nodes if n.op in NEW] == list(NEW)
    x = np.random.default_rng(1).normal(0, 2, size=(500, 8))
    ref = np.asarray(keras.models.load_model(path).predict(x.astype(np.float32), verbose=0))
    ours = np.asarray(model.predict(x, mode="float"))
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_keras_relu_settings_map_or_refuse(tmp_path: Path) -> None:
    keras = import_keras()
    inputs = keras.Input((4,))
    out = keras.layers.ReLU(negative_slope=0.2)(inputs)
    keras.Model(inputs, out).save(tmp_path / "leaky.keras")
    ops = [n.op for n in hepinfer.compile(tmp_path / "leaky.keras", MODEL_LEVEL).graph.nodes]
    assert Op.LEAKY_RELU in ops
    out = keras.layers.ReLU(max_value=6.0)(inputs)
    keras.Model(inputs, out).save(tmp_path / "relu6.keras")
    with pytest.raises(FrontendError, match="max_value"):
        hepinfer.compile(tmp_path / "relu6.keras", MODEL_LEVEL)


def _onnx_model(path: Path, rng: np.random.Generator) -> Path:
    n = 6
    w = rng.normal(0, 0.8, size=(n, n)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h0"], name="fc"),
        helper.make_node("Selu", ["h0"], ["h1"], name="selu"),
        helper.make_node("Softsign", ["h1"], ["h2"], name="softsign"),
        helper.make_node("MatMul", ["h2", "w"], ["h3"], name="fc2"),
        helper.make_node("ThresholdedRelu", ["h3"], ["h4"], name="trelu", alpha=0.25),
        helper.make_node("PRelu", ["h4", "slope"], ["y"], name="prelu"),
    ]
    slope = rng.normal(0, 0.5, size=n).astype(np.float32)
    init = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(slope, "slope")]
    graph = helper.make_graph(
        nodes,
        "acts",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


def test_onnx_matches_onnxruntime(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = _onnx_model(tmp_path / "acts.onnx", np.random.default_rng(3))
    model = hepinfer.compile(path, MODEL_LEVEL)
    assert [n.op for n in model.graph.nodes if n.op in NEW] == list(NEW)
    x = np.random.default_rng(4).normal(0, 2, size=(300, 6)).astype(np.float32)
    (ref,) = ort.InferenceSession(str(path)).run(None, {"x": x})
    np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)


def test_torch_modules() -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.frontends.torch import from_torch_module

    net = torch.nn.Sequential(
        torch.nn.Linear(5, 5),
        torch.nn.SELU(),
        torch.nn.Softsign(),
        torch.nn.Threshold(0.5, 0.0),
        torch.nn.PReLU(5),
    )
    with torch.no_grad():
        net[4].weight.copy_(torch.linspace(-0.5, 0.5, 5))
    graph = from_torch_module(net, (5,))
    assert [n.op for n in graph.nodes if n.op in NEW] == [
        Op.SELU,
        Op.SOFTSIGN,
        Op.THRESHOLDED_RELU,
        Op.PRELU,
    ]
    x = np.random.default_rng(5).normal(0, 2, size=(200, 5))
    ref = net(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    ours = hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float")
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(FrontendError, match="value=0"):
        from_torch_module(torch.nn.Sequential(torch.nn.Threshold(0.5, 1.0)), (5,))


def test_csim_equals_emulator_and_estimate(
    keras_model: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    model = hepinfer.compile(keras_model[0], MIXED)
    x = np.random.default_rng(6).normal(0, 3, size=(400, 8))
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):  # Xilinx's ap_types (skips if absent), our own
            if headers == "xilinx" and find_ap_types_headers() is None:
                continue
            ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
            np.testing.assert_array_equal(ours.reshape(len(x), -1), np.asarray(model.predict(x)))
    est = model.estimate()
    names = {layer.name for layer in est.layers}
    assert {"selu", "softsign", "trelu", "prelu"} <= names


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    keras_model: tuple[Path, list], tmp_path: Path, config: dict[str, Any]
) -> None:
    path, spec = keras_model
    x = np.random.default_rng(7).normal(0, 2, size=(3000, 8))
    theirs, trace = oracle((8,), spec, x, tmp_path / "h", config, trace=True)
    model = hepinfer.compile(path, config)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    mine = model.trace(x[:300])
    for name in ("selu", "softsign", "trelu", "prelu"):
        got = np.asarray(mine[name]).reshape(300, -1)
        assert int(np.count_nonzero(got != trace[name].reshape(300, -1))) == 0, name
        assert np.unique(got).size > 100, name
    assert int(np.count_nonzero(ours != theirs)) == 0
