"""QKeras models (Keras 2 JSON + HDF5) read as types, and hls4ml's BinaryDense/TernaryDense.

Unit tests of the quantiser parser and of QKeras's weight quantisation need no peer. The
oracle tests build QKeras models with random weights in the qkeras peer
(`tests/frontends/qkeras_runner.py`, QKeras 0.9.0 on TensorFlow 2.14.1), convert them with
that peer's hls4ml 1.3 and compare hepinfer with its C simulation bit for bit on 2,000
inputs, and hepinfer's float mode with QKeras's own output; hepinfer's own C simulation
equals its emulator on these models (io_parallel and io_stream).

Tolerance against QKeras: QKeras applies its quantisers in float32 to float32 sums, hepinfer's
float mode applies the same quantisers in float64 to the same quantised weights. Inputs on a
2**-5 grid make every sum exact in both, so the two can only part where float32 rounding moves
a value across a quantiser's rounding tie: at most 0.1 % of the outputs may differ (none did).
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
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.frontends import load_model, qkeras
from hepinfer.ir.op import Op
from hepinfer.ops.quant import fixed_type

RUNNER = Path(__file__).with_name("qkeras_runner.py")
MODEL_LEVEL: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}
}


# ------------------------------------------------------------------ quantisers (no peer)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("quantized_relu(2)", {"bits": 2, "integer": 0, "negative_slope": 0.0}),
        ("quantized_bits(6,0,alpha=1)", {"bits": 6, "integer": 0, "alpha": 1}),
        ("quantized_bits(8, 3, 1, keep_negative=False)", {"symmetric": 1, "keep_negative": False}),
        ("quantized_relu(6,2,negative_slope=0.25)", {"bits": 6, "negative_slope": 0.25}),
        ("binary", {"use_01": False, "alpha": None}),
        ("ternary(alpha='auto_po2')", {"alpha": "auto_po2", "threshold": None}),
        ({"class_name": "quantized_tanh", "config": {"bits": 5}}, {"bits": 5, "symmetric": False}),
        (  # training switches and later QKeras versions' unset options are accepted
            {
                "class_name": "quantized_bits",
                "config": {
                    "bits": 4,
                    "var_name": "q_1",
                    "use_ste": True,
                    "elements_per_scale": None,
                },
            },
            {"bits": 4, "integer": 0},
        ),
    ],
)
def test_quantisers_parse_from_strings_and_objects(spec: Any, expected: dict[str, Any]) -> None:
    q = qkeras.parse("layer", spec)
    for key, value in expected.items():
        assert q.get(key) == value


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("quantized_ulaw(8)", "not supported; supported: quantized_bits"),
        ("quantized_bits(6, bogus=1)", r"unknown arguments \['bogus'\]"),
        ("quantized_bits(os.getcwd())", "not a literal"),
        ("quantized_bits(4, use_stochastic_rounding=True)", "stochastic rounding"),
        (
            "quantized_bits(4, elements_per_scale=[2])",
            r"unknown arguments \['elements_per_scale'\]",
        ),
    ],
)
def test_bad_quantisers_are_refused_by_name(spec: str, match: str) -> None:
    with pytest.raises(FrontendError, match=match):
        qkeras.parse("dense_3", spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("quantized_bits(8,3)", FixedType(8, 4, True, Quant.RND_CONV, Overflow.SAT)),
        ("quantized_bits(8,3,1)", FixedType(8, 4, True, Quant.RND_CONV, Overflow.SAT_SYM)),
        (
            "quantized_bits(8,3,keep_negative=False)",
            FixedType(8, 3, False, Quant.RND_CONV, Overflow.SAT),
        ),
        ("quantized_relu(4,2)", FixedType(4, 2, False, Quant.RND_CONV, Overflow.SAT)),
        (
            "quantized_relu(6,2,negative_slope=0.25)",
            FixedType(6, 3, True, Quant.RND_CONV, Overflow.SAT),
        ),
        ("quantized_tanh(6)", FixedType(6, 1, True, Quant.RND_CONV, Overflow.SAT)),
        ("quantized_sigmoid(6)", FixedType(6, 0, False, Quant.RND_CONV, Overflow.SAT)),
    ],
)
def test_activation_quantisers_become_types(spec: str, expected: FixedType) -> None:
    assert fixed_type(qkeras.activation_quantizer(qkeras.parse("act", spec))) == expected


def test_activation_quantisers_without_a_type_are_refused() -> None:
    for spec in ("binary", "quantized_po2(4)", "quantized_tanh(4, use_real_tanh=True)"):
        with pytest.raises(FrontendError, match="act"):
            qkeras.activation_quantizer(qkeras.parse("act", spec))
    with pytest.raises(FrontendError, match="alpha"):
        qkeras.activation_quantizer(qkeras.parse("act", "quantized_bits(4, alpha=0.3)"))


def test_weight_values_follow_qkeras() -> None:
    w = np.array([[-0.6, -0.2, 0.0], [0.1, 0.34, 0.9]], dtype=np.float32)
    binary, _ = qkeras.quantize_weights(qkeras.parse("d", "binary(alpha=1)"), w)
    np.testing.assert_array_equal(binary, [[-1, -1, 1], [1, 1, 1]])  # sign, 0 -> +1
    ternary, _ = qkeras.quantize_weights(qkeras.parse("d", "ternary"), w)
    np.testing.assert_array_equal(ternary, [[-1, 0, 0], [0, 1, 1]])  # threshold 0.33
    bits, _ = qkeras.quantize_weights(qkeras.parse("d", "quantized_bits(4,0,alpha=1)"), w)
    np.testing.assert_array_equal(bits, [[-0.625, -0.25, 0.0], [0.125, 0.375, 0.875]])
    po2, _ = qkeras.quantize_weights(qkeras.parse("d", "quantized_po2(4)"), w)
    np.testing.assert_array_equal(np.abs(po2), 2.0 ** np.round(np.log2(np.abs(po2))))
    values, scale = qkeras.quantize_weights(
        qkeras.parse("d", "quantized_bits(4,0,alpha='auto_po2')"), w
    )
    assert scale is not None
    assert scale.shape == (1, 3)
    np.testing.assert_array_equal(np.log2(scale), np.round(np.log2(scale)))  # powers of two
    np.testing.assert_array_equal(values * 8, np.round(values * 8))  # on the 4-bit grid


def test_exact_type_holds_the_values() -> None:
    t = fixed_type(qkeras.exact_type([-1.0, 0.5, 0.25]))
    assert (t.width, t.integer, t.signed) == (3, 1, True)  # -1 .. 0.75
    t = fixed_type(qkeras.exact_type([1.0, 0.5]))
    assert (t.width, t.integer, t.signed) == (2, 1, False)


def _json_model(path: Path, layers: list[dict[str, Any]], shape: list[int]) -> tuple[Path, Path]:
    """A Keras 2 Sequential JSON (no weights needed by the layers given) and an empty h5."""
    h5py = pytest.importorskip("h5py")
    layers[0]["config"]["batch_input_shape"] = [None, *shape]
    model = {"class_name": "Sequential", "config": {"name": "m", "layers": layers}}
    (path / "m.json").write_text(json.dumps(model))
    with h5py.File(path / "m.h5", "w") as f:
        f.attrs["layer_names"] = []
    return path / "m.json", path / "m.h5"


def test_qactivation_strings_become_typed_activations(tmp_path: Path) -> None:
    layers = [
        {"class_name": "QActivation", "config": {"name": "a", "activation": "quantized_relu(2)"}},
        {"class_name": "QActivation", "config": {"name": "b", "activation": "quantized_tanh(4)"}},
        {
            "class_name": "QActivation",
            "config": {"name": "c", "activation": "quantized_sigmoid(4)"},
        },
    ]
    graph = load_model(_json_model(tmp_path, layers, [4]))
    ops = {n.name: n.op for n in graph.nodes}
    assert (ops["a"], ops["b"], ops["c"]) == (Op.RELU, Op.LINEAR, Op.HARD_SIGMOID)
    model = hepinfer.compile(_json_model(tmp_path, layers, [4]), MODEL_LEVEL)
    x = np.linspace(-6, 6, 97).reshape(-1, 1).repeat(4, axis=1)
    y = np.asarray(model.predict(x))
    # relu(2,0) -> tanh(4) -> sigmoid(4): the QKeras chain in float
    r = np.clip(np.round(np.maximum(x, 0) * 4), 0, 3) / 4
    t = np.clip(np.round(np.clip(r, -1, 1) * 8), -8, 7) / 8
    s = np.clip(np.round(np.clip(0.5 * t + 0.5, 0, 1) * 16), 0, 15) / 16
    np.testing.assert_array_equal(y, s)


def test_a_quantiser_given_as_activation_is_split_off(tmp_path: Path) -> None:
    """QDense(activation='quantized_relu(4,2)'): hls4ml's `<layer>_<quantiser>` node, typed."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(3)
    kernel, bias = rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, 3)
    layers = [
        {
            "class_name": "QDense",
            "config": {
                "name": "fc",
                "units": 3,
                "activation": "quantized_relu(4,2)",
                "kernel_quantizer": "quantized_bits(4,0,alpha=1)",
                "bias_quantizer": {
                    "class_name": "quantized_bits",
                    "config": {"bits": 6, "integer": 2},
                },
            },
        }
    ]
    json_path, h5_path = _json_model(tmp_path, layers, [4])
    with h5py.File(h5_path, "w") as f:
        group = f.create_group("fc")
        group.attrs["weight_names"] = [b"fc/kernel:0", b"fc/bias:0"]
        group.create_dataset("fc/kernel:0", data=kernel.astype(np.float32))
        group.create_dataset("fc/bias:0", data=bias.astype(np.float32))
    graph = load_model((json_path, h5_path))
    assert [n.name for n in graph.nodes][-2:] == ["fc", "fc_quantized_relu"]
    model = hepinfer.compile((json_path, h5_path), MODEL_LEVEL)
    x = np.round(rng.uniform(-2, 2, (64, 4)) * 32) / 32
    kq = np.clip(np.round(kernel.astype(np.float32) * 8), -8, 7) / 8
    bq = np.clip(np.round(bias.astype(np.float32) * 8), -32, 31) / 8
    expected = np.clip(np.round((x @ kq + bq) * 4), 0, 15) / 4
    np.testing.assert_array_equal(model.predict(x), expected)


def test_qconv2d_batchnorm_off_the_channel_axis_is_refused(tmp_path: Path) -> None:
    """hls4ml 1.3 folds the normalisation into the output channels: another axis is refused."""
    layers = [{"class_name": "QConv2DBatchnorm", "config": {"name": "cbn_7", "axis": [1]}}]
    with pytest.raises(FrontendError, match=r"'cbn_7' of type 'QConv2DBatchnorm'.*axis \[1\]"):
        load_model(_json_model(tmp_path, layers, [8, 8, 2]))


# ------------------------------------------------------------------ against QKeras and hls4ml


def _run_all(python: Path, work: Path, jobs: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> Path:
    """Run the runner once (one TensorFlow start) for every model of `jobs`
    ({name: (inputs, extra SPEC entries)}); model `name`'s files land in `work / name`.
    """
    specs = []
    for name, (x, extra) in jobs.items():
        np.save(work / f"x_{name}.npy", x)
        out = str(work / name)
        specs.append({"model": name, "seed": 1, "x": str(work / f"x_{name}.npy"), "out": out})
        specs[-1].update(extra)
    (work / "spec.json").write_text(json.dumps({"jobs": specs}))
    proc = subprocess.run(
        [str(python), str(RUNNER), str(work / "spec.json")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return work


def _inputs(shape: tuple[int, ...]) -> np.ndarray:
    """2,000 inputs in [-2, 2] on a 2**-5 grid (exact in ap_fixed<16,6> and in float32)."""
    return np.round(np.random.default_rng(5).uniform(-2, 2, (2000, *shape)) * 32) / 32


def _agree_with_qkeras(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Issue 13's float criterion: every output within 1e-5 of the largest |QKeras output|.

    QKeras computes in float32, hepinfer's float mode in float64: on the oracle models the
    quantised outputs are equal and the recurrent ones (float32 tanh/sigmoid) differ by at
    most 7.4e-7 of the largest output (per output up to 7.5e-4 relative, on outputs near 0:
    an absolute float32 error of 2e-8 on a value of 2.9e-5), so the scale is the largest output.
    """
    scale = float(np.abs(theirs).max())
    worst = float(np.abs(ours - theirs).max())
    assert worst <= 1e-5 * scale, f"max |difference| {worst:.3g} > 1e-5 x max |output| {scale:.3g}"


CASES = {
    # QConv2D, QActivation strings/objects (relu, bits, tanh), QDepthwiseConv2D, QDense; the
    # depthwise layer's result is pinned: hls4ml 1.3 drops a quantized_bits QActivation after
    # a layer with an 'auto' result (MergeLinearActivation), hepinfer keeps it
    "conv2d": ((8, 8, 2), {"qdw": "ap_fixed<14,8>", "qdw_linear": "ap_fixed<14,8>"}),
    # QConv1D with binary kernel, QBatchNormalization, quantized_relu with a negative slope,
    # ternary QDense, quantized_sigmoid
    "conv1d": ((16, 3), {}),
    # BinaryDense and TernaryDense by class name (plain Dense subclasses in Keras)
    "binary_ternary": ((16,), {}),
}

#: per-layer mixed configurations (hls4ml `LayerName` types over its QKeras configuration):
#: the same model converted a second time in the runner; accumulators and results narrowed,
#: rounding (RND, RND_CONV), saturation and wrapping accumulators. Each type but tdense's
#: result changes the outputs on these inputs (1,830 of 8,000 and 6,859 of 10,000 in all; each
#: WRAP accumulator made SAT changes 290 to 1,750), so each is compared with hls4ml
MIXED: dict[str, dict[str, dict[str, str]]] = {
    "conv1d": {
        "qconv1": {"accum": "fixed<9,4,TRN,WRAP>", "result": "fixed<8,4,RND,SAT>"},
        "qbn": {"result": "fixed<10,4,RND_CONV,SAT>", "scale": "fixed<12,3,RND>"},
        "qfc": {"accum": "fixed<12,5,TRN,WRAP>", "result": "fixed<6,3,RND,SAT>"},
    },
    "binary_ternary": {
        "bdense": {"accum": "fixed<8,4,TRN,WRAP>", "result": "fixed<7,4,RND,SAT>"},
        "relu1": {"result": "ufixed<4,2,RND_CONV,SAT>"},
        "tdense": {"accum": "fixed<6,3,TRN,WRAP>", "result": "fixed<7,3,RND,SAT>"},
    },
}


def _equal_to_hls4ml(files: tuple[Path, Path], out: Path, x: np.ndarray, suffix: str) -> np.ndarray:
    """Compile with the runner's hls4ml configuration `suffix` ('' or '_mixed'): check that
    hepinfer's outputs on `x` equal hls4ml's C simulation bit for bit, and return them.
    """
    config = json.loads((out / f"hls4ml_config{suffix}.json").read_text())
    expected = np.load(out / f"y_hls4ml{suffix}.npy")
    ours = np.asarray(hepinfer.compile(files, config).predict(x)).reshape(len(x), -1)
    assert ours.shape == expected.shape
    differing = int(np.count_nonzero(ours != expected))
    assert differing == 0, (
        f"{differing} of {ours.size} outputs differ from hls4ml's C simulation ({suffix or 'model'})"
    )
    assert len(np.unique(ours)) > 16  # not a constant output
    return ours


@pytest.fixture(scope="module")
def runs(qkeras_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The oracle models of this module through QKeras and hls4ml in one runner process."""
    jobs: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
    for name, (shape, pins) in CASES.items():
        extra: dict[str, Any] = {"pins": pins}
        if name in MIXED:
            extra["mixed"] = MIXED[name]
        if name == "binary_ternary":
            extra["keras_hls4ml_weights"] = True
        jobs[name] = (_inputs(shape), extra)
    jobs["scaled"] = (_inputs((16,)), {"hls4ml": False})
    return _run_all(qkeras_python, tmp_path_factory.mktemp("qkeras"), jobs)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_bit_exact_against_hls4ml_csim(runs: Path, name: str) -> None:
    x = _inputs(CASES[name][0])
    out = runs / name
    files = (out / "model.json", out / "model_weights.h5")
    ours = _equal_to_hls4ml(files, out, x, "")
    if name in MIXED:  # the mixed configuration, and a control: its types change the outputs
        mixed = _equal_to_hls4ml(files, out, x, "_mixed")
        changed = int(np.count_nonzero(mixed != ours))
        assert changed > ours.size // 100, f"the mixed types change only {changed} outputs"
    if name == "conv1d":  # hepinfer's own HLS project in io_stream: C simulation == emulator
        config = json.loads((out / "hls4ml_config.json").read_text())
        compiled = hepinfer.compile(files, config)
        csim = np.asarray(compiled.csim(x[:200], io_type="io_stream")).reshape(200, -1)
        np.testing.assert_array_equal(csim, ours[:200])
    model = hepinfer.compile(files, MODEL_LEVEL)
    floats = np.asarray(model.predict(x, mode="float")).reshape(len(x), -1)
    if name == "binary_ternary":  # Keras's Dense layers with hls4ml's binary/ternary weights
        keras = np.load(out / "y_keras_hls4ml_weights.npy")
        np.testing.assert_allclose(floats, keras, rtol=1e-5, atol=1e-5 * np.abs(keras).max())
        # control: Keras with its float weights computes something else
        assert np.abs(np.load(out / "y_qkeras.npy").reshape(keras.shape) - keras).max() > 0.1
    else:
        qk = np.load(out / "y_qkeras.npy").reshape(len(x), -1)
        _agree_with_qkeras(floats, qk)


@pytest.mark.oracle
@pytest.mark.slow
def test_scaled_and_po2_quantisers_equal_qkeras(runs: Path) -> None:
    """alpha='auto_po2' (quantized_bits, ternary: a `<layer>_alpha` scaling node),
    quantized_po2 kernels, keep_negative=False and symmetric activations. hls4ml 1.3 gives
    po2 weights and scales exponent types that are not fixed point; QKeras is the reference.
    With types wide enough for the unquantised sums, fixed point equals QKeras exactly.
    """
    x = _inputs((16,))
    out = runs / "scaled"
    files = (out / "model.json", out / "model_weights.h5")
    qk = np.load(out / "y_qkeras.npy").reshape(len(x), -1)
    graph = load_model(files)
    assert {"qfc1_alpha", "qfc3_alpha"} <= {n.name for n in graph.nodes}
    wide = {"Model": {"Precision": "ap_fixed<32,12>"}}
    model = hepinfer.compile(files, wide)
    _agree_with_qkeras(np.asarray(model.predict(x, mode="float")).reshape(qk.shape), qk)
    fixed = np.asarray(model.predict(x)).reshape(qk.shape)
    _agree_with_qkeras(fixed, qk)
    assert len(np.unique(fixed)) > 16
    # the alpha nodes' unsigned power-of-two scale types and po2 weights in C++ (io_parallel)
    np.testing.assert_array_equal(np.asarray(model.csim(x[:200])).reshape(200, -1), fixed[:200])
