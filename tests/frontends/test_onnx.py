"""ONNX/QONNX frontend against onnxruntime (and ONNX's reference evaluator for old opsets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hepinfer.emulate import emulate_float
from hepinfer.errors import FrontendError
from hepinfer.frontends import load_model
from hepinfer.ir import Op

onnx = pytest.importorskip("onnx")


@pytest.mark.parametrize("name", ["three_layer_keras", "three_layer_pytorch", "two_layer_keras"])
def test_matches_onnxruntime(shared_data: Path, name: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = shared_data / "hls4ml-example-models" / "onnx" / f"{name}.onnx"
    graph = load_model(path)
    x = (
        np.random.default_rng(1)
        .standard_normal((300, *graph.inputs[0].out.shape))
        .astype(np.float32)
    )
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"  # fixed batch 1 in the file
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    expected = session.run(None, feed)[0]
    np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)


def test_gemm_and_matmul_add_become_dense(shared_data: Path) -> None:
    d = shared_data / "hls4ml-example-models" / "onnx"
    for name in ("three_layer_keras", "three_layer_pytorch"):
        ops = [n.op for n in load_model(d / f"{name}.onnx").nodes]
        assert ops.count(Op.DENSE) == 4
        assert ops.count(Op.RELU) == 3


def test_old_opset_batchnorm_model_parses_and_matches_reference(shared_data: Path) -> None:
    from onnx.reference import ReferenceEvaluator

    path = shared_data / "hls4ml-example-models" / "onnx" / "three_layer_bn_pytorch.onnx"
    model = onnx.load(str(path))
    assert model.opset_import[0].version < 7
    graph = load_model(path)
    assert [n.op for n in graph.nodes].count(Op.BATCHNORM) == 4
    x = np.random.default_rng(2).standard_normal((100, 16)).astype(np.float32)
    expected = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x})[0]
    np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)


def test_qonnx_quant_nodes(shared_data: Path) -> None:
    graph = load_model(shared_data / "qonnx" / "qkeras_jettagging.onnx")
    quants = [n for n in graph.nodes if n.op is Op.QUANT]
    assert len(quants) == 3  # the activation quantisers; weight quantisers fold into Dense
    dense = [n for n in graph.nodes if n.op is Op.DENSE]
    assert all(n.attrs["kernel_quantizer"]["bitwidth"] == 6 for n in dense)
    k = dense[0].weights["kernel"] / dense[0].attrs["kernel_quantizer"]["scale"]
    np.testing.assert_array_equal(k, np.round(k))


def test_qonnx_and_qkeras_versions_of_the_same_tagger_agree(shared_data: Path) -> None:
    a = load_model(shared_data / "qonnx" / "qkeras_jettagging.onnx")
    b = load_model(shared_data / "hls4ml-example-models" / "keras" / "qkeras_3layer.json")
    x = np.random.default_rng(5).standard_normal((500, 16))
    ya, yb = emulate_float(a, x)[a.outputs[0]], emulate_float(b, x)[b.outputs[0]]
    assert ya.shape == yb.shape == (500, 5)
    assert np.isfinite(ya).all()


def test_unsupported_node_names_node_type_and_supported_list() -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Cos", ["x"], ["y"], name="cosine")
    g = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(g)
    with pytest.raises(
        FrontendError, match=r"'cosine' of type 'Cos' is not supported; supported types: .*Gemm"
    ):
        load_model(model)


@pytest.mark.parametrize(
    ("name", "shape"), [("conv1d_small_keras", (10, 4)), ("conv2d_small_keras", (8, 8, 1))]
)
def test_conv_models_match_onnxruntime(
    shared_data: Path, name: str, shape: tuple[int, ...]
) -> None:
    """keras2onnx conv models: NHWC input, Transpose to NCHW, Conv, back, Flatten(axis=0)."""
    ort = pytest.importorskip("onnxruntime")
    path = shared_data / "hls4ml-example-models" / "onnx" / f"{name}.onnx"
    graph = load_model(path)
    conv_ops = {Op.CONV1D, Op.CONV2D}
    assert any(n.op in conv_ops for n in graph.nodes)
    assert Op.TRANSPOSE not in {n.op for n in graph.nodes}  # layout changes absorbed
    x = np.random.default_rng(3).standard_normal((30, *shape)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name
    expected = np.concatenate([session.run(None, {feed: x[i : i + 1]})[0] for i in range(len(x))])
    np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)


def test_keras_json_and_onnx_export_of_the_conv1d_model_agree(shared_data: Path) -> None:
    d = shared_data / "hls4ml-example-models"
    a = load_model(d / "keras" / "KERAS_conv1d_small.json")
    b = load_model(d / "onnx" / "conv1d_small_keras.onnx")
    x = np.random.default_rng(4).standard_normal((50, 10, 4))
    np.testing.assert_allclose(
        emulate_float(a, x)[a.outputs[0]], emulate_float(b, x)[b.outputs[0]], atol=1e-6
    )
