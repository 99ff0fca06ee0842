"""TimeDistributed: Keras 3 and Keras 2 JSON models, float mode equal to Keras, HLS C
simulation == emulator (both io types and header sets, with LayerNormalization and
EinsumDense in the same project), estimate, and bit-exactness with
hls4ml 1.3's C simulation (through its Keras 2 JSON + HDF5 path: its Keras 3 handler fails on
TimeDistributed) at model level and with mixed per-layer types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.frontends.keras import load_json_h5
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras2_files, oracle_json
from tests.ops.test_einsum_dense import MIXED as EIN_CONFIGS
from tests.ops.test_layernorm import MIXED as LN_CONFIGS

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SEQ, DIM, UNITS = 4, 5, 6
LN_MIXED = LN_CONFIGS["LayerName"]["ln"]
EIN_MIXED = EIN_CONFIGS["LayerName"]["ein"]
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        # the inner layer answers to its own name; its result stays the model default, as
        # hls4ml's time-step copies (read/write_time_step) need equal types to compile
        "inner": {
            "Precision": {
                "weight": "ap_fixed<8,2,AP_RND>",
                "bias": "ap_fixed<10,3>",
                "accum": "ap_fixed<20,8>",
            }
        },
        "out": {"Precision": {"weight": "ap_fixed<9,3>", "result": "ap_fixed<14,5,AP_RND,AP_SAT>"}},
    },
}


def _weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "kernel": rng.normal(0, 0.7, size=(DIM, UNITS)),
        "bias": rng.normal(0, 0.5, size=UNITS),
        "out_kernel": rng.normal(0, 0.4, size=(SEQ * UNITS, 3)),
        "ein_kernel": rng.normal(0, 0.5, size=(SEQ, UNITS, 3)),
        "ein_bias": rng.normal(0, 0.5, size=3),
        "ein_out_kernel": rng.normal(0, 0.4, size=(SEQ * 3, 3)),
        "out_bias": rng.normal(0, 0.5, size=3),
        "gamma": rng.normal(1, 0.5, size=UNITS),
        "beta": rng.normal(0, 0.5, size=UNITS),
    }


def _keras3(w: dict[str, np.ndarray], activation: str, path: Path) -> Path:
    """X -> TimeDistributed(Dense, activation) -> LayerNormalization -> Flatten -> Dense."""
    keras = import_keras()
    inp = keras.Input((SEQ, DIM), name="x_in")
    inner = keras.layers.Dense(UNITS, activation=activation, name="inner")
    td = keras.layers.TimeDistributed(inner, name="td")
    ln = keras.layers.LayerNormalization(axis=2, name="ln")
    ein = keras.layers.EinsumDense("abc,bcd->abd", (SEQ, 3), bias_axes="d", name="ein")
    out = keras.layers.Dense(3, name="out")
    model = keras.Model(inp, out(keras.layers.Flatten(name="flat")(ein(ln(td(inp))))))
    td.set_weights([w["kernel"].astype(np.float32), w["bias"].astype(np.float32)])
    ln.set_weights([w["gamma"].astype(np.float32), w["beta"].astype(np.float32)])
    ein.set_weights([w["ein_kernel"].astype(np.float32), w["ein_bias"].astype(np.float32)])
    out.set_weights([w["ein_out_kernel"].astype(np.float32), w["out_bias"].astype(np.float32)])
    model.save(path)
    return path


def _keras2(w: dict[str, np.ndarray], folder: Path) -> tuple[Path, Path]:
    """Keras 2 JSON + HDF5 as Keras 2's `model.save` writes them (weights under
    `model_weights`, the wrapped kernel as `td/td/kernel:0`: where hls4ml looks).
    """
    h5py = pytest.importorskip("h5py")
    inner = {
        "class_name": "Dense",
        "config": {
            "name": "inner",
            "units": UNITS,
            "activation": "linear",
            "use_bias": True,
            "dtype": "float32",
            "trainable": True,
        },
    }
    layers = [
        {"class": "TimeDistributed", "config": {"name": "td", "layer": inner}},
        {"class": "Flatten", "config": {"name": "flat"}},
        {
            "class": "Dense",
            "config": {"units": 3, "name": "out"},
            "weights": [w["out_kernel"], w["out_bias"]],
        },
    ]
    json_path, h5_path = keras2_files((SEQ, DIM), layers, folder)
    with h5py.File(h5_path, "a") as f:
        root = f.create_group("model_weights")
        for key in [k for k in f if k != "model_weights"]:
            f.move(key, f"model_weights/{key}")
        for key, value in f.attrs.items():
            root.attrs[key] = value
        names = ["td/kernel:0", "td/bias:0"]
        root["td"].attrs["weight_names"] = [n.encode() for n in names]
        for n, v in zip(names, (w["kernel"], w["bias"]), strict=True):
            root["td"].create_dataset(n, data=v.astype(np.float32))
    return json_path, h5_path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    w = _weights(np.random.default_rng(53))
    folder = tmp_path_factory.mktemp("td")
    return {
        "weights": w,
        "relu": _keras3(w, "relu", folder / "td_relu.keras"),
        "k2": _keras2(w, folder / "k2"),
    }


def inputs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1.5, size=(n, SEQ, DIM))


def test_keras_float_mode_matches_keras(models: dict[str, Any]) -> None:
    keras = import_keras()
    x = inputs(300, 1)
    model = hepinfer.compile(models["relu"], MODEL_LEVEL)
    assert [n.name for n in model.graph.nodes][1:4] == ["inner", "inner_relu", "ln"]
    assert model.graph.node("inner").attrs["time_distributed"] == "td"
    ref = np.asarray(keras.models.load_model(models["relu"]).predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)
    # Keras 2 JSON + HDF5 (a linear inner layer): the same as the Keras 3 model without relu
    k2 = hepinfer.compile(load_json_h5(*models["k2"]), MODEL_LEVEL)
    w = models["weights"]
    want = (x @ w["kernel"] + w["bias"]).reshape(len(x), -1) @ w["out_kernel"] + w["out_bias"]
    np.testing.assert_allclose(k2.predict(x, mode="float"), want, rtol=1e-5, atol=1e-5)


def test_refused_wrapped_layers_name_the_layer() -> None:
    keras = import_keras()
    inp = keras.Input((SEQ, 6, 2))
    td = keras.layers.TimeDistributed(keras.layers.Conv1D(2, 3), name="frames")
    with pytest.raises(FrontendError, match=r"'frames' \(TimeDistributed\) wraps a 'Conv1D'"):
        hepinfer.compile(keras.Model(inp, td(inp)), MODEL_LEVEL)


def test_csim_equals_emulator_and_estimate(
    models: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TimeDistributed(Dense), LayerNormalization and EinsumDense (mixed types; one project
    per io type and header set for the three new kernels) in C simulation equal the emulator.
    """
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    names = {**MIXED["LayerName"], "td": {}, "ln": LN_MIXED, "ein": EIN_MIXED}
    model = hepinfer.compile(models["relu"], {**MIXED, "LayerName": names})
    x = np.concatenate([inputs(150, 6), inputs(50, 8) * 10])  # sums that saturate too
    want = np.asarray(model.predict(x))
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):  # Xilinx's ap_types (skips if absent), our own
            if headers == "xilinx" and find_ap_types_headers() is None:
                continue
            ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
            np.testing.assert_array_equal(ours.reshape(len(x), -1), want)
    assert {"inner", "ln", "ein", "out"} <= {layer.name for layer in model.estimate().layers}


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    models: dict[str, Any], tmp_path: Path, config: dict[str, Any]
) -> None:
    x = inputs(2500, 7)
    theirs, _ = oracle_json(models["k2"], x, tmp_path / "h", config)
    model = hepinfer.compile(load_json_h5(*models["k2"]), config)
    assert model.graph.node("inner").attrs["time_distributed"] == "td"
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs.reshape(len(x), -1))) == 0
