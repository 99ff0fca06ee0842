"""QSeparableConv1D/2D, QSimpleRNN/QLSTM/QGRU and QConv2DBatchnorm read as types (issue 13).

The refusals need no peer. The oracle tests build five QKeras models with random weights in
the qkeras peer, all in one TensorFlow start (`qkeras_runner.py` with a list of jobs), and
compare hepinfer with hls4ml 1.3's C simulation bit for bit on 2,000 inputs, at hls4ml's
QKeras configuration (`config_from_keras_model(granularity='name')`, model precision
`ap_fixed<16,6>`) and at mixed per-layer types; hepinfer's float mode with QKeras's own
output (the tolerance of `test_qkeras._agree_with_qkeras`); and hepinfer's C simulation
with its emulator.

hls4ml 1.3 does not apply a recurrent layer's quantisers to its weights (it truncates the
float weights into the quantisers' types where QKeras rounds them), so the recurrent models
have weights on their quantisers' grids, where both agree. Their `recurrent_quantizer`
(`quantized_bits(5,1)`: 2**-3 steps in [-2, 2)) differs from their `kernel_quantizer`
(`quantized_bits(6,0)`: 2**-5 in [-1, 1)) and becomes the `recurrent_weight` type (hls4ml's
`recurrent_weight_t`); the control compiles the same models with the recurrent kernels in
the kernel's type and sees outputs change. Its Vitis backend has no SimpleRNN kernel:
QSimpleRNN is checked against QKeras (float) and csim == emulator.
QConv2DBatchnorm without the convolution's own bias (hls4ml 1.3 then drops the folded bias)
likewise.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.frontends import load_model
from hepinfer.ir.op import Op
from tests.frontends.test_qkeras import MODEL_LEVEL, RUNNER, _agree_with_qkeras, _json_model

#: per-layer types beyond the quantisers' (hls4ml's names; `qsep` reaches both parts)
MIXED_SEPARABLE = {
    "qsep": {
        "depthwise_accum": "ap_fixed<18,6>",
        "depthwise_result": "ap_fixed<12,4,AP_RND,AP_SAT>",
        "pointwise_accum": "ap_fixed<20,8>",
        "result": "ap_fixed<14,5,AP_RND>",
    },
    "qfc": {"result": "ap_fixed<12,5>"},
}
#: hls4ml 1.3's recurrent kernels compile only with their input, accumulator and result in
#: one type (another type than the model's here)
_SEQ = "ap_fixed<14,5,AP_RND,AP_SAT>"
MIXED_RECURRENT = {
    "x_in": {"result": _SEQ},
    "qlstm": {"result": _SEQ, "accum": _SEQ},
    "qgru": {"result": _SEQ, "accum": _SEQ},
    "qfc": {"result": "ap_fixed<12,5>"},
}
MIXED_CONV_BN = {
    "qcbn1": {"accum": "ap_fixed<20,8>", "result": "ap_fixed<12,4,AP_RND,AP_SAT>"},
    "qcbn2": {"accum": "ap_fixed<22,10>", "result": "ap_fixed<14,5,AP_RND>"},
    "qfc": {"result": "ap_fixed<12,5>"},
}
#: name -> (input shape, pins, compared with hls4ml)
JOBS: dict[str, tuple[tuple[int, ...], dict[str, Any], bool]] = {
    "separable2d": ((8, 8, 2), {}, True),
    "separable1d": ((16, 3), MIXED_SEPARABLE, True),
    "gru_lstm": ((8, 4), {}, True),
    "lstm_gru": ((8, 4), MIXED_RECURRENT, True),
    "simple_rnn": ((8, 4), {}, False),
    "conv_bn": ((8, 8, 2), {}, True),
    "conv_bn_mixed": ((8, 8, 2), MIXED_CONV_BN, True),
    "conv_bn_nobias": ((8, 8, 2), {}, False),
}


def _inputs(shape: tuple[int, ...]) -> np.ndarray:
    """2,000 inputs in [-2, 2] on a 2**-5 grid (exact in ap_fixed<16,6> and in float32)."""
    return np.round(np.random.default_rng(5).uniform(-2, 2, (2000, *shape)) * 32) / 32


@pytest.fixture(scope="module")
def peer_runs(qkeras_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every model of `JOBS` through QKeras and hls4ml in one run of the qkeras peer."""
    work = tmp_path_factory.mktemp("qlayers")
    jobs = []
    for name, (shape, pins, hls4ml) in JOBS.items():
        np.save(work / f"{name}_x.npy", _inputs(shape))
        jobs.append(
            {
                "model": name,
                "seed": 1,
                "x": str(work / f"{name}_x.npy"),
                "out": str(work / name),
                "pins": pins,
                "hls4ml": hls4ml,
            }
        )
    (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
    proc = subprocess.run(
        [str(qkeras_python), str(RUNNER), str(work / "spec.json")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return work


def _files(work: Path, name: str) -> tuple[Path, Path]:
    return work / name / "model.json", work / name / "model_weights.h5"


# ------------------------------------------------------------------ refusals (no peer)


def _layer(cls: str, **config: Any) -> list[dict[str, Any]]:
    base = {"name": "rec_3", "units": 4, "activation": "tanh", "recurrent_activation": "sigmoid"}
    return [{"class_name": cls, "config": {**base, **config}}]


@pytest.mark.parametrize(
    ("cls", "config", "match"),
    [
        ("QLSTM", {"state_quantizer": "quantized_bits(8,2)"}, "state_quantizer"),
        ("QGRU", {"activation": "quantized_tanh(6)"}, "activation 'quantized_tanh"),
        ("QGRU", {"kernel_quantizer": None}, "recurrent_quantizer=None"),
    ],
)
def test_recurrent_quantisers_without_a_type_are_refused_by_name(
    tmp_path: Path, cls: str, config: dict[str, Any], match: str
) -> None:
    with pytest.raises(FrontendError, match=f"'rec_3' of type '{cls}'.*{match}"):
        load_model(_json_model(tmp_path, _layer(cls, **config), [6, 3]))


def test_binary_activations_are_bipolar(tmp_path: Path) -> None:
    """QActivation(binary): `x >= 0 ? +alpha : -alpha` (QKeras's sign of 0 is +1)."""
    layers = [
        {"class_name": "QActivation", "config": {"name": "b1", "activation": "binary"}},
        {"class_name": "QActivation", "config": {"name": "b2", "activation": "binary(alpha=2)"}},
    ]
    graph = load_model(_json_model(tmp_path, layers, [3]))
    assert [n.op for n in graph.nodes][-2:] == [Op.BIPOLAR_QUANT, Op.BIPOLAR_QUANT]
    model = hepinfer.compile(_json_model(tmp_path, layers[:1], [3]), MODEL_LEVEL)
    x = np.array([[-1.5, 0.0, 0.25], [2.0, -0.03125, -0.0]])
    np.testing.assert_array_equal(model.predict(x), np.where(x >= 0, 1.0, -1.0))
    for spec in ("binary(use_01=True)", "binary(alpha=3)", "binary(alpha='auto_po2')"):
        bad = [{"class_name": "QActivation", "config": {"name": "b3", "activation": spec}}]
        with pytest.raises(FrontendError, match="b3"):
            load_model(_json_model(tmp_path, bad, [3]))


def test_qactivation_types_csim_with_hepinfer_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The activation quantisers' typed nodes (LeakyReLU, Linear, ReLU, HardSigmoid with
    QKeras's rounding and saturating types) in C simulation with hepinfer's headers in both
    IO types (Xilinx's: the QKeras oracle models, io_stream `conv1d`, io_parallel `scaled`).
    """
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    specs = [
        "quantized_bits(8,3,alpha=1)",
        "quantized_relu(8,3,negative_slope=0.25)",
        "quantized_sigmoid(8)",
        "quantized_relu(7,0)",
    ]
    layers = [
        {"class_name": "QActivation", "config": {"name": f"q{i}", "activation": spec}}
        for i, spec in enumerate(specs)
    ]
    model = hepinfer.compile(_json_model(tmp_path, layers, [5]), MODEL_LEVEL)
    ops = [n.op for n in model.graph.nodes][1:]
    assert ops == [Op.LINEAR, Op.LEAKY_RELU, Op.HARD_SIGMOID, Op.RELU]
    x = np.random.default_rng(4).uniform(-6, 6, (400, 5))
    want = np.asarray(model.predict(x))
    assert np.unique(want).size > 24
    for io_type in ("io_parallel", "io_stream"):
        got = np.asarray(model.csim(x, io_type=io_type, headers="hepinfer"))
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=io_type)


# ------------------------------------------------------------------ against QKeras and hls4ml


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, job in JOBS.items() if job[2]])
def test_bit_exact_against_hls4ml_csim(peer_runs: Path, name: str) -> None:
    shape = JOBS[name][0]
    x = _inputs(shape)
    files = _files(peer_runs, name)
    config = json.loads((peer_runs / name / "hls4ml_config.json").read_text())
    expected = np.load(peer_runs / name / "y_hls4ml.npy")
    model = hepinfer.compile(files, config)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert ours.shape == expected.shape
    differing = int(np.count_nonzero(ours != expected))
    assert differing == 0, f"{differing} of {ours.size} outputs differ from hls4ml's C simulation"
    assert len(np.unique(ours)) > 16  # not a constant output
    qk = np.load(peer_runs / name / "y_qkeras.npy").reshape(len(x), -1)
    floats = np.asarray(hepinfer.compile(files, MODEL_LEVEL).predict(x, mode="float"))
    _agree_with_qkeras(floats.reshape(qk.shape), qk)
    if name in ("gru_lstm", "lstm_gru"):
        _recurrent_types_matter(model, files, config, x, expected)
    if name in (
        "lstm_gru",
        "conv_bn_mixed",
    ):  # hepinfer's HLS project: csim == emulator (separable parts: the
        # Conv/DepthwiseConv kernels of tests/ops/test_separable.py, only their types differ)
        csim = np.asarray(model.csim(x[:100])).reshape(100, -1)
        np.testing.assert_array_equal(csim, ours[:100])


def _recurrent_types_matter(
    model: hepinfer.CompiledModel,
    files: tuple[Path, Path],
    config: dict[str, Any],
    x: np.ndarray,
    expected: np.ndarray,
) -> None:
    """The recurrent kernels have their `recurrent_quantizer`'s type (not the kernel's), and
    with the kernel's type instead (hepinfer's earlier single weight type) the outputs
    differ from hls4ml's: the separate type is what makes them equal.
    """
    names = []
    for node in model.graph.nodes:
        if node.op in (Op.LSTM, Op.GRU):
            t = node.precision.recurrent_weight
            assert t is not None, node.name
            assert (t.width, t.integer) == (5, 2), node.name
            assert node.precision.weight != t
            names.append(node.name)
    assert len(names) == 2
    for name in names:
        named = config.setdefault("LayerName", {}).setdefault(name, {})
        precision = dict(named.get("Precision") or {})
        kernel = str(model.graph.node(name).precision.weight)
        named["Precision"] = {**precision, "recurrent_weight": kernel}
        y = np.asarray(hepinfer.compile(files, config).predict(x)).reshape(expected.shape)
        named["Precision"] = precision
        assert np.count_nonzero(y != expected) > 0, name


@pytest.mark.oracle
@pytest.mark.slow
def test_separable_parts_carry_their_quantisers(peer_runs: Path) -> None:
    graph = load_model(_files(peer_runs, "separable2d"))
    nodes = {n.name: n for n in graph.nodes}
    dw, pw = nodes["qsep_depthwise"], nodes["qsep_pointwise"]
    assert (dw.op, pw.op) == (Op.DEPTHWISE_CONV2D, Op.CONV2D)
    assert dw.attrs["kernel_quantizer"]["bitwidth"] == 6
    assert pw.attrs["kernel_quantizer"]["bitwidth"] == 5
    assert pw.attrs["bias_quantizer"]["bitwidth"] == 8
    assert "bias_quantizer" not in dw.attrs  # hls4ml's depthwise part has no bias


@pytest.mark.oracle
@pytest.mark.slow
def test_simple_rnn_equals_qkeras_and_csim(peer_runs: Path) -> None:
    """hls4ml 1.3's Vitis backend drops SimpleRNN layers: QKeras is the reference (float),
    and hepinfer's C simulation equals its emulator.
    """
    x = _inputs(JOBS["simple_rnn"][0])
    files = _files(peer_runs, "simple_rnn")
    qk = np.load(peer_runs / "simple_rnn" / "y_qkeras.npy").reshape(len(x), -1)
    floats = np.asarray(hepinfer.compile(files, MODEL_LEVEL).predict(x, mode="float"))
    _agree_with_qkeras(floats.reshape(qk.shape), qk)
    model = hepinfer.compile(files, MODEL_LEVEL)
    fixed = np.asarray(model.predict(x[:100])).reshape(100, -1)
    assert len(np.unique(fixed)) > 16
    for headers in ("xilinx", "hepinfer"):  # io_parallel (no hls4ml SimpleRNN kernel at all)
        if headers == "xilinx" and find_ap_types_headers() is None:
            continue
        got = np.asarray(model.csim(x[:100], headers=headers)).reshape(100, -1)
        np.testing.assert_array_equal(got, fixed, err_msg=headers)


@pytest.mark.oracle
@pytest.mark.slow
def test_qconv2d_batchnorm_folds_then_quantises(peer_runs: Path) -> None:
    """The folded kernel goes through the kernel quantiser (the values on its 2**-5 grid,
    not the quantised kernel times the normalisation's scale), and a QConv2DBatchnorm without
    its own bias still gets the folded bias `beta - gamma * mean / sqrt(var + eps)`: float
    equal to QKeras (hls4ml 1.3 drops that bias), csim == emulator.
    """
    graph = load_model(_files(peer_runs, "conv_bn"))
    conv = {n.name: n for n in graph.nodes}["qcbn1"]
    assert conv.op == Op.CONV2D
    kernel = np.asarray(conv.weights["kernel"])
    np.testing.assert_array_equal(kernel * 32, np.round(kernel * 32))
    x = _inputs(JOBS["conv_bn_nobias"][0])
    files = _files(peer_runs, "conv_bn_nobias")
    nobias = {n.name: n for n in load_model(files).nodes}["qcbn2"]
    assert np.count_nonzero(np.asarray(nobias.weights["bias"])) > 0
    qk = np.load(peer_runs / "conv_bn_nobias" / "y_qkeras.npy").reshape(len(x), -1)
    model = hepinfer.compile(files, MODEL_LEVEL)
    # the unquantised folded bias is not on a grid: QKeras's float32 sums part by ~1e-7
    floats = np.asarray(model.predict(x, mode="float")).reshape(qk.shape)
    np.testing.assert_allclose(floats, qk, rtol=1e-5, atol=1e-6)
    fixed = np.asarray(model.predict(x[:100])).reshape(100, -1)
    assert len(np.unique(fixed)) > 16
    np.testing.assert_array_equal(np.asarray(model.csim(x[:100])).reshape(100, -1), fixed)
