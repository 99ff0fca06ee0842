"""ONNX operators of issue 13 (grouped Conv, layout patterns, ...) against onnxruntime."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import hepinfer
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


def test_arithmetic_with_constants_sum_and_clip_match_onnxruntime() -> None:
    m = om.arithmetic()
    x = np.random.default_rng(4).normal(size=(300, 3, 5, 4)) * 3
    ops = _check(m, x)
    assert ops.count(Op.BATCHNORM) == 6  # Div, Sub, Mul, Add, c - x, Mul after the MatMul
    assert ops.count(Op.CLIP) == 1
    assert ops.count(Op.RELU) == 1  # Clip(0, inf)
    assert ops.count(Op.ADD) == 2  # Sum of three


def test_a_constant_varying_along_two_axes_is_refused() -> None:
    m = om.arithmetic()
    s = next(i for i in m.graph.initializer if i.name == "s")
    from onnx import numpy_helper

    s.CopyFrom(numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(1, 4, 3, 1), "s"))
    with pytest.raises(FrontendError, match=r"varies along more than the channel axis"):
        load_model(m)


@pytest.mark.parametrize("fold", [True, False])
def test_pad_and_resize_match_onnxruntime(fold: bool) -> None:
    m = om.pad_resize(fold)
    x = np.random.default_rng(5).normal(size=(300, 2, 4, 5))
    ops = _check(m, x)
    assert Op.UPSAMPLING in ops
    assert Op.ZERO_PADDING in ops
    compiled = hepinfer.compile(m)  # before a Conv the Pad becomes its padding
    assert any(n.op is Op.ZERO_PADDING for n in compiled.graph.nodes) is not fold
    y = emulate_float(compiled.graph, x)[compiled.graph.outputs[0]]
    np.testing.assert_allclose(y, om.run_ort(m, x).reshape(y.shape), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("coord", "rounding", "ok"),
    [
        ("half_pixel", "round_prefer_floor", True),
        ("asymmetric", "floor", True),
        ("asymmetric", "round_prefer_ceil", False),
        ("align_corners", "round_prefer_floor", False),
    ],
)
def test_resize_modes_that_repeat_pixels(coord: str, rounding: str, ok: bool) -> None:
    m = om.pad_resize(True)
    resize = next(n for n in m.graph.node if n.op_type == "Resize")
    from onnx import helper

    resize.attribute.extend(
        [
            helper.make_attribute("coordinate_transformation_mode", coord),
            helper.make_attribute("nearest_mode", rounding),
        ]
    )
    x = np.random.default_rng(6).normal(size=(50, 2, 4, 5))
    if ok:
        _check(m, x)
    else:
        with pytest.raises(FrontendError, match=r"does not repeat each pixel"):
            load_model(m)


def test_pad_of_the_channel_axis_is_refused() -> None:
    m = om.pad_resize(True)
    pads = next(i for i in m.graph.initializer if i.name == "pads")
    pads.raw_data = np.array([0, 1, 1, 2, 0, 0, 2, 0], dtype=np.int64).tobytes()
    with pytest.raises(FrontendError, match=r"pad the batch or channel axis"):
        load_model(m)


def test_qonnx_bipolar_trunc_and_intquant_match_the_qonnx_formulas() -> None:
    """QONNX's reference semantics (round, clamp, floor as its custom ops execute them)."""
    m, reference = om.qonnx_binary()
    graph = load_model(m)
    x = np.random.default_rng(7).normal(size=(2000, 8)) * 2
    got = emulate_float(graph, x)[graph.outputs[0]]
    np.testing.assert_allclose(got, reference(x), rtol=1e-12, atol=1e-12)
    ops = [n.op for n in graph.nodes]
    assert ops.count(Op.BIPOLAR_QUANT) == 1
    assert ops.count(Op.QUANT) == 4  # Quant, Trunc (two), IntQuant
    dense = [n for n in graph.nodes if n.op is Op.DENSE]
    assert {tuple(np.unique(d.weights["kernel"])) for d in dense} == {(-0.5, 0.5)}
    assert all(d.attrs["kernel_quantizer"]["bitwidth"] in (1, 2) for d in dense)


def test_trunc_with_a_scale_ratio_not_a_power_of_two_is_refused() -> None:
    m, _ = om.qonnx_binary()
    s_t = next(i for i in m.graph.initializer if i.name == "s_t")
    s_t.raw_data = np.array(0.3, dtype=np.float32).tobytes()
    with pytest.raises(FrontendError, match=r"is not a power of two"):
        load_model(m)


def _six_input_trunc(m: object) -> object:
    """`m` with its Trunc in QONNX 1.0.0's v2 form: six inputs (x, scale, zeropt, in_bits,
    out_scale, out_bits) and `qonnx.custom_op.general` imported at version 2 (without the
    import, QONNX 1.0.0 executes Trunc v1).
    """
    import onnx
    from onnx import helper

    copy = onnx.load_from_string(m.SerializeToString())  # type: ignore[attr-defined]
    for n in copy.graph.node:
        if n.op_type == "Trunc":
            del n.input[5]  # the output zero point (0)
    copy.opset_import.append(helper.make_opsetid(om.QONNX, 2))
    return copy


def test_trunc_in_qonnx_1_0_form_equals_the_seven_input_form() -> None:
    m, reference = om.qonnx_binary()
    six = _six_input_trunc(m)
    x = np.random.default_rng(9).normal(size=(2000, 8)) * 2
    config = {"Model": {"Precision": "ap_fixed<16,6>"}}
    seven_model, six_model = hepinfer.compile(m, config), hepinfer.compile(six, config)
    np.testing.assert_array_equal(six_model.predict(x), seven_model.predict(x))
    got = np.asarray(six_model.predict(x, mode="float"))
    np.testing.assert_allclose(got, reference(x), rtol=1e-12, atol=1e-12)
    for n in six.graph.node:  # type: ignore[attr-defined]
        if n.op_type == "Trunc":
            del n.input[4]
    with pytest.raises(FrontendError, match=r"Trunc 't' with 5 inputs is not supported"):
        load_model(six)


_QONNX_EXEC = """
import sys
import numpy as np, onnx
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.cleanup import cleanup_model
x = np.load(sys.argv[2]).astype(np.float32)
for path, out in ((sys.argv[1], sys.argv[3]), (sys.argv[4], sys.argv[5])):
    proto = onnx.load(path)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = len(x)
    model = cleanup_model(ModelWrapper(proto))
    y = execute_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]
    np.save(out, y.astype(np.float64))
"""


@pytest.mark.oracle
def test_trunc_equals_the_qonnx_executor(qonnx_python: Path, tmp_path: Path) -> None:
    """QONNX 1.0.0's own executor on the six-input Trunc model equals hepinfer's float mode
    exactly; control: it executes the seven-input form as something else.
    """
    import onnx

    m, _ = om.qonnx_binary()
    x = np.round(np.random.default_rng(10).normal(size=(500, 8)) * 64) / 32
    np.save(tmp_path / "x.npy", x)
    onnx.save(_six_input_trunc(m), str(tmp_path / "six.onnx"))
    onnx.save(m, str(tmp_path / "seven.onnx"))
    files = [tmp_path / f for f in ("six.onnx", "x.npy", "y6.npy", "seven.onnx", "y7.npy")]
    subprocess.run(
        [str(qonnx_python), "-c", _QONNX_EXEC, *map(str, files)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    theirs = np.load(tmp_path / "y6.npy")
    graph = load_model(m)
    ours = emulate_float(graph, x)[graph.outputs[0]]
    np.testing.assert_array_equal(ours, theirs)
    assert len(np.unique(theirs)) > 5
    assert np.abs(np.load(tmp_path / "y7.npy") - theirs).max() > 1


def test_qonnx_multithreshold_matches_the_qonnx_formula() -> None:
    m, reference = om.multithreshold()
    graph = load_model(m)
    x = np.random.default_rng(8).normal(size=(500, 2, 4, 5))
    got = emulate_float(graph, x)[graph.outputs[0]]
    np.testing.assert_allclose(got, reference(x), rtol=1e-9, atol=1e-9)
    assert len(np.unique(got)) > 100
    assert Op.MULTITHRESHOLD in [n.op for n in graph.nodes]


def test_mean_of_two_is_an_average_matching_onnxruntime() -> None:
    """ONNX Mean of two tensors is hls4ml's Average merge (the Op tested bit for bit against
    hls4ml 1.3 in tests/ops/test_merges.py): float equal to onnxruntime, csim == emulator;
    hls4ml's own op type `Average` (not an ONNX operator) gives the same graph.
    """
    x = np.round(np.random.default_rng(4).uniform(-2, 2, (300, 6)) * 32) / 32
    ops = _check(om.mean(), x)
    assert ops.count(Op.AVERAGE) == 1
    hls4ml_form = load_model(om.mean("Average"))
    assert [n.op for n in hls4ml_form.nodes] == [n.op for n in load_model(om.mean()).nodes]
    model = hepinfer.compile(om.mean(), {"Model": {"Precision": "ap_fixed<16,6>"}})
    fixed = np.asarray(model.predict(x))
    assert len(np.unique(fixed)) > 100
    np.testing.assert_array_equal(np.asarray(model.csim(x[:100])), fixed[:100])


def test_mean_of_three_is_refused() -> None:
    with pytest.raises(FrontendError, match=r"Mean 'avg' of inputs \['h0', 'h1', 'h2'\]"):
        load_model(om.mean(inputs=3))
