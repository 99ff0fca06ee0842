"""ONNX operators of issue 13 (grouped Conv, layout patterns, ...) against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.emulate import emulate_float
from hepinfer.errors import FrontendError
from hepinfer.frontends import load_model
from hepinfer.ir import Op
from tests.frontends import onnx_ops_models as om

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _check(m: object, x: np.ndarray, ir_input: np.ndarray | None = None) -> list[Op]:
    """Check that the float emulation of `m` equals onnxruntime's within 1e-5 relative."""
    graph = load_model(m)
    got = emulate_float(graph, x if ir_input is None else ir_input)[graph.outputs[0]]
    expected = om.run_ort(m, x)
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=1e-5, atol=1e-5)
    return [n.op for n in graph.nodes]


@pytest.mark.parametrize(
    ("rank", "group", "channels", "filters"),
    [(1, 2, 4, 6), (2, 2, 4, 6), (2, 3, 3, 6), (1, 4, 4, 4), (2, 4, 8, 4)],
)
def test_grouped_conv_matches_onnxruntime(
    rank: int, group: int, channels: int, filters: int
) -> None:
    m = om.grouped_conv(rank, group, channels, filters)
    x = np.random.default_rng(1).normal(size=(200, *(9, 7)[:rank], channels))
    ops = _check(m, x)
    assert ops.count(Op.CONV1D if rank == 1 else Op.CONV2D) == 2


def test_grouped_conv_kernel_is_block_diagonal() -> None:
    graph = load_model(om.grouped_conv(2, 2, 4, 6))
    kernel = next(n for n in graph.nodes if n.name == "c1").weights["kernel"]
    assert kernel.shape == (3, 3, 4, 6)
    assert not kernel[:, :, :2, 3:].any()
    assert not kernel[:, :, 2:, :3].any()
    assert kernel[:, :, :2, :3].all()
    assert kernel[:, :, 2:, 3:].all()


def test_group_not_dividing_channels_is_refused() -> None:
    m = om.grouped_conv(2, 2, 4, 6)
    for a in m.graph.node[1].attribute:
        if a.name == "group":
            a.i = 3
    with pytest.raises(FrontendError, match=r"group=3 does not divide the 4 input channels"):
        load_model(m)


def test_keras2onnx_batchnorm_with_the_batch_axis_moved_is_folded() -> None:
    m = om.keras2onnx_batchnorm()
    x = np.random.default_rng(2).normal(size=(300, 6))
    ops = _check(m, x)
    assert Op.TRANSPOSE not in ops
    assert Op.BATCHNORM in ops


def test_batchnorm_over_the_moved_batch_axis_is_refused() -> None:
    m = om.keras2onnx_batchnorm()
    bn = m.graph.node[3]
    bn.input[0] = "dt"  # BN on (C, N): it would normalise the batch axis
    with pytest.raises(FrontendError, match=r"normalises the batch axis"):
        load_model(m)


def test_a_dense_layer_on_a_moved_batch_axis_is_refused() -> None:
    m = om.keras2onnx_batchnorm()
    del m.graph.node[2:6]
    m.graph.node[2].input[0] = "dt"
    m.graph.node[2].op_type = "Softmax"
    with pytest.raises(FrontendError, match=r"whose batch axis a Transpose moved"):
        load_model(m)


def test_qonnx_channels_last_form_equals_the_standard_model() -> None:
    """QONNX channels-last Conv/BN/MaxPool nodes read NHWC; the result is the NCHW model's."""
    x = np.random.default_rng(3).normal(size=(200, 3, 6, 8))
    standard = om.channels_last_convnet(qonnx_form=False)
    cl = load_model(om.channels_last_convnet(qonnx_form=True))
    std = load_model(standard)
    expected = om.run_ort(standard, x)
    for graph in (cl, std):
        got = emulate_float(graph, x)[graph.outputs[0]]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # the same IR: the input to NHWC, and back to NCHW before the Flatten
    assert [n.op for n in cl.nodes] == [n.op for n in std.nodes]
