"""ONNX `Einsum` of two computed tensors (hepinfer's Einsum op, as `torch.einsum` is read).

The module is the PyTorch test's `TwoEinsums` (a batched matrix product and an einsum with
an output transpose, hls4ml's Einsum) exported by `torch.onnx.export`: hepinfer's float mode
equals onnxruntime, and its fixed mode equals the same module read through the PyTorch
frontend (the `torch.einsum` path, bit-exact with hls4ml 1.3: tests/frontends/
test_torch_functional.py) bit for bit, at a model-level type and at per-type einsum types.
C simulation == emulator for the Einsum op: tests/frontends/test_torch_functional.py.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.frontends.onnx import from_onnx_model
from hepinfer.ir.op import Op

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tests.frontends.torch_hls4ml_runner import TwoEinsums

MODEL_LEVEL: dict[str, Any] = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}
PER_TYPE: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1},
    "LayerType": {
        "Einsum": {
            "Precision": {"accum": "ap_fixed<20,8,AP_RND,AP_SAT>", "result": "ap_fixed<12,5>"}
        },
        "Dense": {"Precision": {"result": "ap_fixed<14,5,AP_RND>"}},
    },
}


def _export(module: Any, *shape: int) -> Any:
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, *shape),),
            f,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "N"}},
            dynamo=False,
        )
    model = onnx.load_from_string(f.getvalue())
    model.ir_version = 10  # onnxruntime's limit
    return model


@pytest.fixture(scope="module")
def models() -> tuple[Any, Any]:
    torch.manual_seed(4)
    module = TwoEinsums().eval()
    return module, _export(module, 6)


def _inputs(n: int = 2000) -> np.ndarray:
    """Inputs in [-2, 2] on a 2**-5 grid (exact in ap_fixed<16,6> and in float32)."""
    return np.round(np.random.default_rng(5).uniform(-2, 2, (n, 6)) * 32) / 32


def test_einsum_nodes_become_einsum_ops(models: tuple[Any, Any]) -> None:
    _, model = models
    assert [n.op_type for n in model.graph.node].count("Einsum") == 2
    graph = from_onnx_model(model)
    assert [n.op for n in graph.nodes].count(Op.EINSUM) == 2


def test_float_mode_equals_onnxruntime(models: tuple[Any, Any]) -> None:
    _, model = models
    x = _inputs()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (reference,) = session.run(None, {"x": x.astype(np.float32)})
    ours = hepinfer.compile(from_onnx_model(model), MODEL_LEVEL).predict(x, mode="float")
    np.testing.assert_allclose(np.asarray(ours), reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("config", [MODEL_LEVEL, PER_TYPE], ids=["model", "per_type"])
def test_fixed_mode_equals_the_torch_einsum_path(
    models: tuple[Any, Any], config: dict[str, Any]
) -> None:
    module, model = models
    x = _inputs()
    from_torch = np.asarray(hepinfer.compile(module, config).predict(x))
    from_onnx = np.asarray(hepinfer.compile(from_onnx_model(model), config).predict(x))
    np.testing.assert_array_equal(from_onnx.reshape(from_torch.shape), from_torch)
    assert len(np.unique(from_torch)) > 500


def _einsum_model(equation: str, constant: bool = False) -> Any:
    h = onnx.helper
    x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 4])
    y = h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    inits = []
    second = "x"
    if constant:
        inits = [h.make_tensor("w", onnx.TensorProto.FLOAT, [4, 2], np.ones(8).tolist())]
        second = "w"
    node = h.make_node("Einsum", ["x", second], ["y"], equation=equation, name="e")
    return h.make_model(h.make_graph([node], "g", [x], [y], inits))


@pytest.mark.parametrize(
    ("equation", "constant", "match"),
    [
        ("bij,bkj", False, "an explicit output"),
        ("...ij,...kj->...ik", False, "an explicit output"),
        ("bij,bkj->ik", False, "the batch axis"),
        ("bij,jk->bik", True, "1 constant"),
    ],
)
def test_unsupported_einsums_are_refused(equation: str, constant: bool, match: str) -> None:
    with pytest.raises(FrontendError, match=match):
        from_onnx_model(_einsum_model(equation, constant))
