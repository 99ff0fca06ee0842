"""Softplus: float and fixed-point semantics, frontends (Keras, ONNX, PyTorch), HLS C
simulation, estimate, interval rule, and bit-exactness with hls4ml's C simulation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hepinfer
from hepinfer.fixed import FixedType
from hepinfer.ir.op import Op
from hepinfer.ops import softplus
from tests.conftest import peers_dir
from tests.emulate.test_hls4ml_oracle import run_script

RUNNER = Path(__file__).parents[1] / "emulate" / "hls4ml_layer_runner.py"
MODEL_LEVEL = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}


def _onnx_dense_softplus(path: Path, kernel: np.ndarray, bias: np.ndarray) -> Path:
    """X @ kernel + bias, then Softplus (MatMul + Add, as Keras exports a Dense)."""
    n_in, n_out = kernel.shape
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n_out])
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["mm"], name="fc_matmul"),
        helper.make_node("Add", ["mm", "b"], ["fc"], name="fc_add"),
        helper.make_node("Softplus", ["fc"], ["y"], name="act"),
    ]
    init = [
        numpy_helper.from_array(kernel.astype(np.float32), "w"),
        numpy_helper.from_array(bias.astype(np.float32), "b"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "softplus", [x], [y], init),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(0, 1.0, size=(6, 5)), rng.normal(0, 0.5, size=5)


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory, weights: tuple) -> Path:
    return _onnx_dense_softplus(tmp_path_factory.mktemp("m") / "sp.onnx", *weights)


def test_float_semantics_and_table() -> None:
    x = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(softplus.run_float(None, [x]), np.log1p(np.exp(x)), rtol=1e-12)  # type: ignore[arg-type]
    points = np.array([-8.0, 0.0, 7.984375], np.float32)
    np.testing.assert_allclose(
        softplus.softplus_table_fn(points), np.log(np.exp(points.astype(np.float64)) + 1), rtol=1e-6
    )


def test_frontends_map_softplus(onnx_model: Path, tmp_path: Path) -> None:
    graph = hepinfer.compile(onnx_model, MODEL_LEVEL).graph
    assert [n.op for n in graph.nodes][-1] is Op.SOFTPLUS
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(6, 5)
            self.act = torch.nn.Softplus()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.softplus(self.act(self.fc(x)))

    from hepinfer.frontends.torch import from_torch_module as from_torch

    ops = [n.op for n in from_torch(Net(), (6,)).nodes]
    assert ops.count(Op.SOFTPLUS) == 2
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Softplus(beta=2.0))
    with pytest.raises(hepinfer.errors.FrontendError, match="Softplus"):
        from_torch(net, (6,))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras' own numpy 2 warnings
def test_keras_activation_maps_softplus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "torch"))
    keras = pytest.importorskip("keras")
    inputs = keras.Input((6,))
    out = keras.layers.Activation("softplus")(keras.layers.Dense(5, activation="softplus")(inputs))
    path = tmp_path / "sp.keras"
    keras.Model(inputs, out).save(path)
    ops = [n.op for n in hepinfer.compile(path, MODEL_LEVEL).graph.nodes]
    assert ops.count(Op.SOFTPLUS) == 2


def test_fixed_point_tracks_float_and_saturates_past_the_table(onnx_model: Path) -> None:
    model = hepinfer.compile(onnx_model, {"Model": {"Precision": "ap_fixed<24,10>"}})
    x = np.random.default_rng(1).normal(0, 2, size=(2000, 6))
    fixed = np.asarray(model.predict(x))
    ref = np.asarray(model.predict(x, mode="float"))
    inside = ref < 7.5
    assert np.abs(fixed - ref)[inside].max() < 0.05  # table step 1/64 near slope 1
    assert fixed.max() <= 8.01  # the table's last entry: softplus(7.984) ~ 7.9843


def test_csim_equals_emulator(
    onnx_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    model = hepinfer.compile(onnx_model, MODEL_LEVEL)
    x = np.random.default_rng(2).normal(0, 3, size=(500, 6))
    for io_type in ("io_parallel", "io_stream"):
        ours = np.asarray(model.csim(x, io_type=io_type)).reshape(len(x), -1)
        np.testing.assert_array_equal(ours, np.asarray(model.predict(x)))


def test_estimate_and_interval(onnx_model: Path) -> None:
    model = hepinfer.compile(onnx_model, MODEL_LEVEL)
    est = model.estimate()
    act = [layer for layer in est.layers if "softplus" in layer.op.lower()]
    assert len(act) == 1
    assert act[0].resources.lut > 0 or act[0].resources.bram18k > 0  # a table costs something
    node = model.graph.nodes[-1]
    assert node.op is Op.SOFTPLUS
    lo, hi = softplus.interval(node, [(np.full(5, -20.0), np.full(5, 20.0))])  # type: ignore[list-item]
    assert float(lo.min()) >= 0.0
    assert float(hi.max()) < 8.1


@pytest.mark.oracle
@pytest.mark.slow
def test_bit_exact_against_hls4ml(weights: tuple, onnx_model: Path, tmp_path: Path) -> None:
    python = peers_dir() / "hls4ml" / "bin" / "python"
    if not (peers_dir() / "READY-hls4ml").exists() or not python.exists():
        pytest.skip(f"hls4ml peer not installed under {peers_dir()} (set HEPINFER_PEERS)")
    kernel, bias = weights
    np.save(tmp_path / "k.npy", kernel.astype(np.float32))
    np.save(tmp_path / "b.npy", bias.astype(np.float32))
    x = np.random.default_rng(3).normal(0, 3, size=(3000, 6))
    np.save(tmp_path / "x.npy", x)
    spec = {
        "input_shape": [6],
        "layers": [
            {
                "class": "Dense",
                "config": {"units": 5, "name": "fc"},
                "weights": [str(tmp_path / "k.npy"), str(tmp_path / "b.npy")],
            },
            {"class": "Activation", "config": {"activation": "softplus", "name": "act"}},
        ],
        "hls_config": MODEL_LEVEL,
        "x": str(tmp_path / "x.npy"),
        "y": str(tmp_path / "y.npy"),
        "out_dir": str(tmp_path / "prj"),
    }
    run_script(python, RUNNER, spec, tmp_path)
    theirs = np.load(tmp_path / "y.npy")
    assert "softplus" in (tmp_path / "prj" / "firmware" / "oracle.cpp").read_text()
    ours = np.asarray(hepinfer.compile(onnx_model, MODEL_LEVEL).predict(x)).reshape(len(x), -1)
    assert ours.shape == theirs.shape
    assert int(np.count_nonzero(ours != theirs)) == 0
    assert np.unique(ours).size > 100  # the table is really exercised
    assert FixedType.parse("ap_fixed<16,6>").max >= ours.max()
