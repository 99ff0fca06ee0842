"""Keras frontend: JSON + HDF5 (no TensorFlow) against a NumPy reference read from the
weights file with h5py; Keras 3 objects against keras itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hepinfer.emulate import emulate_float
from hepinfer.errors import FrontendError
from hepinfer.frontends import load_model
from hepinfer.frontends.keras import BACKENDS, convert_config
from hepinfer.ir import Op


def numpy_reference(json_path: Path, h5_path: Path, x: np.ndarray) -> np.ndarray:
    """Evaluate a sequential Keras 2 Dense/BatchNorm/Activation model directly."""
    h5py = pytest.importorskip("h5py")
    arch = json.loads(json_path.read_text())
    acts = {
        "relu": lambda v: np.maximum(v, 0),
        "linear": lambda v: v,
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "softmax": lambda v: (
            np.exp(v - v.max(1, keepdims=True))
            / np.exp(v - v.max(1, keepdims=True)).sum(1, keepdims=True)
        ),
    }
    with h5py.File(h5_path, "r") as f:
        for layer in arch["config"]["layers"]:
            cfg, name = layer["config"], layer["config"]["name"]
            g = f[name][name] if name in f and name in f[name] else None
            w = {k: np.asarray(g[k], dtype=np.float64) for k in g} if g is not None else {}
            if layer["class_name"] == "Dense":
                x = x @ w["kernel:0"] + w["bias:0"]
            elif layer["class_name"] == "BatchNormalization":
                norm = (x - w["moving_mean:0"]) / np.sqrt(w["moving_variance:0"] + cfg["epsilon"])
                x = norm * w["gamma:0"] + w["beta:0"]
            if "activation" in cfg:
                x = acts[cfg["activation"]](x)
    return x


@pytest.mark.parametrize(
    "name",
    [
        "KERAS_3layer",
        "KERAS_1layer",
        "KERAS_3layer_batch_norm",
        "KERAS_dense_16x100x100x100x100x100x5",
    ],
)
def test_json_h5_matches_numpy_reference(shared_data: Path, name: str) -> None:
    d = shared_data / "hls4ml-example-models" / "keras"
    graph = load_model(d / f"{name}.json")
    x = np.random.default_rng(0).standard_normal((200, *graph.inputs[0].out.shape))
    ours = emulate_float(graph, x)[graph.outputs[0]]
    # BatchNorm's scale = gamma / sqrt(var + eps) is formed in float32, like Keras and hls4ml
    np.testing.assert_allclose(
        ours, numpy_reference(d / f"{name}.json", d / f"{name}_weights.h5", x), atol=1e-6
    )


def test_dense_activation_split_like_hls4ml(shared_data: Path) -> None:
    graph = load_model(shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json")
    assert [(n.name, n.op) for n in graph.nodes][:3] == [
        ("input_1", Op.INPUT),
        ("fc1_relu", Op.DENSE),
        ("fc1_relu_relu", Op.RELU),
    ]
    assert graph.outputs == ("output_softmax_softmax",)


def test_qkeras_quantisers_become_types(shared_data: Path) -> None:
    graph = load_model(shared_data / "hls4ml-example-models" / "keras" / "qkeras_3layer.json")
    fc1 = graph.node("fc1")
    q = fc1.attrs["kernel_quantizer"]
    assert (q["bitwidth"], q["scale"], q["signed"]) == (6, 2.0**-5, True)
    # weights are quantised like QKeras does on the fly: multiples of 2**-5 in [-1, 1)
    k = fc1.weights["kernel"] * 32
    np.testing.assert_array_equal(k, np.round(k))
    assert k.min() >= -32
    assert k.max() <= 31
    assert graph.node("relu1").attrs["quantizer"]["signed"] is False


def test_unsupported_layer_names_layer_type_and_supported_list() -> None:
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "m",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {"name": "in", "batch_input_shape": [None, 4]},
                },
                {"class_name": "ConvLSTM1D", "config": {"name": "lstm_1"}},
            ],
        },
    }
    with pytest.raises(
        FrontendError,
        match=r"'lstm_1' of type 'ConvLSTM1D' is not supported; supported types: .*Dense",
    ):
        convert_config(config, lambda _: [])


def test_missing_weights_file(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(FrontendError, match="no weights file found"):
        load_model(tmp_path / "m.json")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras' own numpy 2 warnings
def test_keras3_model_object_matches_keras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    inputs = keras.Input((6,), name="features")
    h = keras.layers.Dense(8, activation="relu", name="d1")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    out = keras.layers.Dense(3, activation="softmax", name="d2")(h)
    model = keras.Model(inputs, out)
    rng = np.random.default_rng(3)
    for layer in model.layers:
        layer.set_weights([rng.normal(0.5, 0.5, w.shape) for w in layer.get_weights()])
    x = rng.standard_normal((50, 6)).astype(np.float32)
    graph = load_model(model)
    assert [n.name for n in graph.nodes] == ["features", "d1", "d1_relu", "bn", "d2", "d2_softmax"]
    expected = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras' own numpy 2 warnings
def test_keras3_conv_pool_merge_layers_match_keras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    L = keras.layers
    inputs = keras.Input((9, 8, 3), name="image")
    a = L.Conv2D(4, 3, strides=2, padding="same", name="c1")(inputs)
    a = L.LeakyReLU(negative_slope=0.1, name="lrelu")(a)
    b = L.DepthwiseConv2D(3, padding="same", name="dw")(inputs)
    b = L.MaxPooling2D(2, padding="same", name="mp")(b)
    b = L.Conv2D(4, 1, activation="elu", name="c2")(b)
    s = L.Add(name="add")([a, b])
    m = L.Multiply(name="mul")([s, a])
    g1 = L.GlobalAveragePooling2D(name="gap")(m)
    g2 = L.GlobalMaxPooling2D(name="gmp")(L.AveragePooling2D(2, name="ap")(s))
    h = L.Concatenate(name="cat")([g1, g2])
    h = L.Dense(6, activation="tanh", name="d1")(h)
    out = L.Dense(2, activation="sigmoid", name="d2")(h)
    model = keras.Model(inputs, out)
    rng = np.random.default_rng(5)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.4, w.shape) for w in layer.get_weights()])
    inputs1d = keras.Input((12, 2), name="seq")
    c = L.Conv1D(3, 3, padding="same", dilation_rate=2, activation="relu", name="c1d")(inputs1d)
    c = L.AveragePooling1D(2, padding="same", name="ap1")(c)
    c = L.MaxPooling1D(2, strides=1, name="mp1")(c)
    c = L.Flatten(name="flat")(c)
    model1d = keras.Model(inputs1d, L.Dense(2, name="out")(c))
    for layer in model1d.layers:
        layer.set_weights([rng.normal(0, 0.4, w.shape) for w in layer.get_weights()])
    for mdl, shape in ((model, (9, 8, 3)), (model1d, (12, 2))):
        x = rng.standard_normal((40, *shape)).astype(np.float32)
        graph = load_model(mdl)
        expected = np.asarray(mdl.predict(x, verbose=0))
        np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=2e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras' own numpy 2 warnings
def test_keras3_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
    )
    path = tmp_path / "m.keras"
    model.save(path)
    graph = load_model(path)
    x = np.random.default_rng(0).standard_normal((20, 5)).astype(np.float32)
    expected = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras' own numpy 2 warnings
@pytest.mark.filterwarnings("ignore::UserWarning")  # keras: "HDF5 is a legacy format"
def test_full_model_h5_matches_keras(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    inputs = keras.Input((5,), name="features")
    h = keras.layers.Dense(7, activation="relu", name="d1")(inputs)
    out = keras.layers.Dense(3, activation="softmax", name="d2")(h)
    model = keras.Model(inputs, out)
    model.save(tmp_path / "m.h5")
    x = np.random.default_rng(4).standard_normal((40, 5)).astype(np.float32)
    graph = load_model(tmp_path / "m.h5")
    assert [n.name for n in graph.nodes] == ["features", "d1", "d1_relu", "d2", "d2_softmax"]
    expected = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)


def test_weights_only_h5_is_explained(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.create_group("d1")
    with pytest.raises(FrontendError, match="holds weights only"):
        load_model(tmp_path / "w.h5")


def _run_clean(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter without KERAS_BACKEND (keras not yet imported)."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def test_keras_backend_is_chosen_when_unset() -> None:
    pytest.importorskip("keras")
    installed = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    if not installed:
        pytest.skip("no Keras backend installed")
    proc = _run_clean(
        "from hepinfer.frontends.keras import import_keras\n"
        "import os\n"
        "print(import_keras().backend.backend(), os.environ['KERAS_BACKEND'])\n"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [installed[0], installed[0]]


def test_missing_keras_backend_is_named() -> None:
    pytest.importorskip("keras")
    proc = _run_clean(
        "import importlib.util\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n in ('torch', 'jax', 'tensorflow') "
        "else real(n, *a)\n"
        "from hepinfer.errors import FrontendError\n"
        "from hepinfer.frontends.keras import import_keras\n"
        "try:\n"
        "    import_keras()\n"
        "except FrontendError as exc:\n"
        "    print(exc)\n"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "none of its backends (torch, jax, tensorflow) is" in proc.stdout
    assert "pip install 'hepinfer[torch]'" in proc.stdout
