"""Nested Keras models: a Sequential or functional model used as a layer (issue 13).

One run of the qkeras peer (`nested_runner.py`: TensorFlow 2.14's Keras 2 and hls4ml 1.3)
builds the Keras 2 models with the weights drawn here, saves them as JSON + HDF5 and runs
hls4ml's C simulation of the functional one: two branches x_in -> f0 -> fsub[fs_d1 relu] ->
block[in_d1, in_relu, deep[dd], in_d2 relu] -> fout (a functional model inside a functional
model, a Sequential inside a Sequential inside it, depth 2), concatenated. The first branch
runs at model-level `ap_fixed<16,6>`, the second (its names prefixed `b_`) at per-layer
types naming its inner layers: both configurations in one hls4ml project (one compile). The
same network built in Keras 3 here
(hls4ml 1.3's Keras 3 path cannot convert nested models: `AttributeError: 'IsolatedLayerReader'
object has no attribute 'model'`) must give hls4ml's bits too. The refusals and the cases
hls4ml refuses need Keras 3 only.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import ConfigError, FrontendError
from hepinfer.frontends.keras import convert_config, load_json_h5
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RUNNER = Path(__file__).with_name("nested_runner.py")
#: model-level ap_fixed<16,6> for the first branch, mixed types for the second one's layers
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "b_fs_d1": {
            "Precision": {
                "weight": "ap_fixed<8,2,AP_RND>",
                "accum": "ap_fixed<20,8>",
                "result": "ap_fixed<12,4,AP_RND,AP_SAT>",
            }
        },
        "b_fs_d1_relu": {"Precision": {"result": "ap_fixed<10,4>"}},
        "b_dd": {"Precision": {"weight": "ap_fixed<9,3>", "result": "ap_fixed<14,5,AP_RND>"}},
        "b_in_d2": {
            "Precision": {"bias": "ap_fixed<10,3>", "result": "ap_fixed<13,5,AP_RND_CONV,AP_SAT>"}
        },
        "b_fout": {"Precision": {"result": "ap_fixed<14,6>"}},
    },
}
#: layer -> (inputs, units) of the Dense layers of both models
BRANCH = {
    "f0": (6, 8),
    "fs_d1": (8, 8),
    "in_d1": (8, 8),
    "dd": (8, 6),
    "in_d2": (6, 5),
    "fout": (5, 3),
}
DENSE = {
    **BRANCH,
    **{f"b_{name}": shape for name, shape in BRANCH.items()},
    "d0": (6, 5),
    "i1": (5, 7),
    "i2": (7, 4),
    "dout": (4, 3),
}
#: the functional model's nodes as hls4ml 1.3 names them (inner layers by their own names)
NODES = ["x_in", "f0", "fs_d1", "fs_d1_relu", "in_d1", "in_relu", "dd", "in_d2", "in_d2_relu"]


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(13)
    out = {}
    for name, (n_in, n_out) in DENSE.items():
        out[f"{name}_0"] = rng.normal(0, 0.6, (n_in, n_out)).astype(np.float32)
        out[f"{name}_1"] = rng.normal(0, 0.4, n_out).astype(np.float32)
    return out


def _inputs() -> np.ndarray:
    """2,000 inputs in [-4, 4) on a 2**-6 grid (exact in ap_fixed<16,6> and in float32)."""
    return np.floor(np.random.default_rng(7).uniform(-4, 4, (2000, 6)) * 64) / 64


@pytest.fixture(scope="module")
def peer_run(qkeras_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Keras 2 files, Keras's outputs and hls4ml's C simulation (one project)."""
    work = tmp_path_factory.mktemp("nested")
    np.savez(work / "weights.npz", **_weights())
    np.save(work / "x.npy", _inputs())
    spec = {
        "weights": str(work / "weights.npz"),
        "x": str(work / "x.npy"),
        "out": str(work / "out"),
        "config": MIXED,
    }
    (work / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run(
        [str(qkeras_python), str(RUNNER), str(work / "spec.json")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return work / "out"


def _keras3_branch(keras: Any, x: Any, p: str) -> Any:
    """`nested_runner.branch` in Keras 3."""
    layers = keras.layers
    sub_in = keras.Input((8,), name=f"{p}fsub_in")
    out = layers.Dense(8, "relu", name=f"{p}fs_d1")(sub_in)
    fsub = keras.Model(sub_in, out, name=f"{p}fsub")
    deep = keras.Sequential([keras.Input((8,)), layers.Dense(6, name=f"{p}dd")], name=f"{p}deep")
    block = keras.Sequential(
        [
            keras.Input((8,)),
            layers.Dense(8, name=f"{p}in_d1"),
            layers.ReLU(name=f"{p}in_relu"),
            deep,
            layers.Dense(5, "relu", name=f"{p}in_d2"),
        ],
        name=f"{p}block",
    )
    return layers.Dense(3, name=f"{p}fout")(block(fsub(layers.Dense(8, name=f"{p}f0")(x))))


def _keras3_model(keras: Any) -> Any:
    """The functional model of `nested_runner.build` in Keras 3, with the same weights."""
    x_in = keras.Input((6,), name="x_in")
    branches = [_keras3_branch(keras, x_in, p) for p in ("", "b_")]
    model = keras.Model(x_in, keras.layers.Concatenate(name="cat")(branches), name="nested")
    w = _weights()

    def fill(m: Any) -> None:
        for layer in m.layers:
            if hasattr(layer, "layers"):
                fill(layer)
            elif f"{layer.name}_0" in w:
                layer.set_weights([w[f"{layer.name}_0"], w[f"{layer.name}_1"]])

    fill(model)
    return model


@pytest.fixture(scope="module")
def keras3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, np.ndarray]:
    """The Keras 3 model saved as `.keras`, that file loaded back by Keras (the other tests
    convert this object: no second load), and its float32 outputs of `_inputs()`.
    """
    keras = import_keras()
    model = _keras3_model(keras)
    path = tmp_path_factory.mktemp("nested3") / "nested.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    # calling the model, not predict(): the same numbers, without predict()'s seconds of set-up
    want = keras.ops.convert_to_numpy(model(_inputs().astype(np.float32)))
    return path, loaded, np.asarray(want)


def _close(ours: Any, keras_out: np.ndarray) -> None:
    """Within 1e-5 of Keras, relative to the output's scale (Keras computes in float32, so
    outputs near 0 carry its rounding of the larger sums before them).
    """
    scale = float(np.abs(keras_out).max())
    np.testing.assert_allclose(ours, keras_out, rtol=1e-5, atol=1e-5 * scale)


def _files(out: Path, weights: str = "model.h5") -> tuple[Path, Path]:
    return out / "model.json", out / weights


@pytest.mark.oracle
@pytest.mark.slow
def test_keras2_layers_inlined_with_their_weights(peer_run: Path) -> None:
    """Inner layers keep hls4ml's names and their own HDF5 weights, from `model.save` and
    from `save_weights` (which hls4ml 1.3 cannot read: its nested reader wants
    `model_weights/`); float mode equals Keras 2 for both models.
    """
    graph = load_json_h5(*_files(peer_run))
    assert [n.name for n in graph.nodes if not n.name.startswith("b_")][: len(NODES)] == NODES
    nodes = {n.name: n for n in graph.nodes}
    assert nodes["dd"].attrs["nested"] == ("block", "deep")
    assert nodes["fs_d1_relu"].attrs["nested"] == ("fsub",)
    assert "nested" not in nodes["f0"].attrs
    w = _weights()
    for name in ("fs_d1", "dd", "in_d2"):
        np.testing.assert_array_equal(nodes[name].weights["kernel"], w[f"{name}_0"])
    other = {n.name: n for n in load_json_h5(*_files(peer_run, "model_weights.h5")).nodes}
    for name, node in nodes.items():
        for key, value in node.weights.items():
            np.testing.assert_array_equal(other[name].weights[key], value)
    x = _inputs()
    floats = hepinfer.compile(_files(peer_run), MODEL_LEVEL).predict(x, mode="float")
    _close(floats, np.load(peer_run / "y_keras.npy"))
    seq = hepinfer.compile(
        (peer_run / "seq.json", peer_run / "seq.h5"), MODEL_LEVEL
    )  # Sequential [d0, inner[i1, i_relu, i2 tanh], dout]
    assert [n.name for n in seq.graph.nodes] == [
        "d0_input",
        "d0",
        "i1",
        "i_relu",
        "i2",
        "i2_tanh",
        "dout",
    ]
    want = np.load(peer_run / "y_seq_keras.npy")
    _close(seq.predict(x, mode="float"), want)


@pytest.mark.oracle
@pytest.mark.slow
def test_bit_exact_against_hls4ml_csim(
    peer_run: Path, keras3: tuple[Path, Any, np.ndarray]
) -> None:
    """Keras 2 JSON + HDF5 and the same network in Keras 3: hls4ml's bits on 2,000 inputs,
    the first branch at model level, the second at the per-layer types of its inner layers.
    """
    x = _inputs()
    theirs = np.load(peer_run / "y_hls4ml.npy")
    for model in (_files(peer_run), keras3[1]):
        ours = np.asarray(hepinfer.compile(model, MIXED).predict(x)).reshape(len(x), -1)
        differing = int(np.count_nonzero(ours != theirs))
        assert differing == 0, f"{differing} of {ours.size} outputs differ from hls4ml's csim"
        for half in (ours[:, :3], ours[:, 3:]):  # not a constant or saturated output
            assert len(np.unique(half)) > 1000
    # the inner layers' types change the second branch's bits: the configuration reached them
    model_level = np.asarray(hepinfer.compile(keras3[1], MODEL_LEVEL).predict(x))
    np.testing.assert_array_equal(model_level[:, :3], theirs[:, :3])
    assert np.count_nonzero(model_level[:, 3:] != theirs[:, 3:]) > 1000


def test_keras3_float_mode_and_nested_layer_names(keras3: tuple[Path, Any, np.ndarray]) -> None:
    path, loaded, want = keras3
    model = hepinfer.compile(path, MODEL_LEVEL)  # the .keras file reader
    names = [n.name for n in model.graph.nodes]
    assert [n for n in names if not n.startswith("b_")][: len(NODES)] == NODES
    _close(model.predict(_inputs(), mode="float"), want)
    # Keras 3's legacy HDF5 (`model.save('m.h5')`): the nested weights as
    # `<model>/<layer>/kernel` under the top-level nested layer's group
    loaded.save(path.with_suffix(".h5"))
    legacy = hepinfer.compile(path.with_suffix(".h5"), MODEL_LEVEL)
    np.testing.assert_array_equal(legacy.predict(_inputs()), model.predict(_inputs()))
    # hls4ml's config_from_keras_model(granularity='name') names the nested models
    # themselves (its LayerGroup layers, removed when it inlines them): accepted, unused
    named = {**MODEL_LEVEL, "LayerName": {"block": {"Precision": {"result": "auto"}}}}
    hepinfer.compile(loaded, named)
    with pytest.raises(ConfigError, match="'blokc' is not a layer"):
        hepinfer.compile(loaded, {**MODEL_LEVEL, "LayerName": {"blokc": {"ReuseFactor": 1}}})


def test_several_inputs_and_outputs_and_name_clashes() -> None:
    """A nested model of two inputs and two outputs (hls4ml 1.3 refuses it: 'Cannot insert a
    node with more than one input') is inlined, its outputs read by tensor index; an inner
    name that an outer layer also has becomes `<nested model>_<name>`.
    """
    keras = import_keras()
    layers = keras.layers
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    s = layers.Add(name="add")([a, b])
    pair = keras.Model(
        [a, b], [layers.Dense(2, name="p")(s), layers.Dense(4, name="h0")(s)], name="pair"
    )
    x = keras.Input((3,), name="x_in")
    h0 = layers.Dense(3, name="h0")(x)
    p, q = pair([h0, layers.Dense(3, "relu", name="h1")(x)])
    model = keras.Model(x, layers.Concatenate(name="cat")([q, p]))
    rng = np.random.default_rng(3)
    for layer in (*model.layers, *pair.layers):
        layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    compiled = hepinfer.compile(model, MODEL_LEVEL)
    nodes = {n.name: n for n in compiled.graph.nodes}
    assert nodes["pair_h0"].inputs == ("add",)
    assert nodes["add"].inputs == ("h0", "h1_relu")
    assert nodes["cat"].inputs == ("pair_h0", "p")
    xs = rng.normal(0, 1, (50, 3)).astype(np.float32)
    want = np.asarray(keras.ops.convert_to_numpy(model(xs)))
    _close(compiled.predict(xs, mode="float"), want)


def test_nested_model_called_twice_is_refused() -> None:
    """Shared weights: hls4ml 1.3 silently keeps one call (a wrong model); hepinfer refuses."""
    keras = import_keras()
    shared = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name="sd")], name="tw")
    x = keras.Input((3,), name="x_in")
    model = keras.Model(x, keras.layers.Dense(2, name="o")(shared(shared(x))))
    with pytest.raises(
        FrontendError, match=r"'tw' of type 'Sequential' is called 2 times .*own layer"
    ):
        hepinfer.compile(model, MODEL_LEVEL)


def test_several_outputs_inside_a_sequential_model_are_refused() -> None:
    def relu(name: str) -> dict[str, Any]:
        return {"class_name": "ReLU", "config": {"name": name}, "inbound_nodes": [[["a", 0, 0]]]}

    two = {
        "class_name": "Functional",
        "config": {
            "name": "two",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {"name": "a", "batch_input_shape": [None, 3]},
                },
                relu("r1"),
                relu("r2"),
            ],
            "input_layers": [["a", 0, 0]],
            "output_layers": [["r1", 0, 0], ["r2", 0, 0]],
        },
    }
    x = {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 3]}}
    outer = {"class_name": "Sequential", "config": {"name": "outer", "layers": [x, two]}}
    with pytest.raises(FrontendError, match=r"nested Keras model 'two' has 2 outputs"):
        convert_config(outer, lambda _: [])
