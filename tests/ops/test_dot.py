"""Dot: semantics, the Keras frontend, HLS C simulation == emulator (io_parallel, io_stream,
both header sets), estimate, and bit-exactness with hls4ml 1.3's C simulation on a Keras 3
model with random weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.ir import Node, NodePrecision, Op, TensorType
from hepinfer.ops import spec
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras_file, oracle

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "a": {"Precision": {"result": "ap_fixed<12,4>"}},
        "b": {"Precision": {"result": "ap_fixed<10,3,AP_RND>"}},
        "dot": {"Precision": {"accum": "ap_fixed<14,6>", "result": "ap_fixed<10,5,AP_RND,AP_SAT>"}},
        "out": {"Precision": {"result": "ap_fixed<18,8>"}},
    },
}


def layers(rng: np.random.Generator, n: int = 6) -> list[dict[str, Any]]:
    def dense(name: str, units: int, n_in: int, src: str) -> dict[str, Any]:
        w = [rng.normal(0, 0.8, size=(n_in, units)), rng.normal(0, 0.5, size=units)]
        return {
            "class": "Dense",
            "config": {"units": units, "name": name},
            "weights": w,
            "inputs": [src],
        }

    return [
        dense("a", n, n, "x_in"),
        dense("b", n, n, "x_in"),
        {"class": "Dot", "config": {"axes": 1, "name": "dot"}, "inputs": ["a", "b"]},
        dense("out", 2, 1, "dot"),
    ]


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    spec_ = layers(np.random.default_rng(61))
    return keras_file((6,), spec_, tmp_path_factory.mktemp("k") / "dot.keras"), spec_


def test_products_and_sum_in_accum() -> None:
    """Each product is cast to accum_t (here: truncated to 2 fractional bits) before the sum."""
    node = Node("d", Op.DOT, ("a", "b"), TensorType((1,)))
    a, b = np.array([[0.75, 0.75, -0.5]]), np.array([[0.75, 0.5, 0.25]])
    np.testing.assert_allclose(spec(Op.DOT).run_float(node, [a, b]), [[0.8125]])
    t = FixedType.parse("ap_fixed<8,3>")
    node = node.replace(precision=NodePrecision(accum=FixedType.parse("ap_fixed<6,4>"), result=t))
    got = spec(Op.DOT).run_fixed(node, [FxArray.from_float(a, t), FxArray.from_float(b, t)])
    # 0.5625 -> 0.5, 0.375 -> 0.25, -0.125 -> -0.25: 0.5 (each product floored to 1/4)
    np.testing.assert_array_equal(got.to_float(), [[0.5]])


def test_keras_float_mode_matches_keras(keras_model: tuple[Path, list]) -> None:
    keras = import_keras()
    path, _ = keras_model
    model = hepinfer.compile(path, MODEL_LEVEL)
    assert Op.DOT in {n.op for n in model.graph.nodes}
    x = np.random.default_rng(1).normal(0, 1, size=(300, 6))
    ref = np.asarray(keras.models.load_model(path).predict(x.astype(np.float32), verbose=0))
    np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)


def test_keras_dot_settings_are_refused(tmp_path: Path) -> None:
    keras = import_keras()
    inputs = keras.Input((4,))
    out = keras.layers.Dot(axes=1, normalize=True)([inputs, inputs])
    keras.Model(inputs, out).save(tmp_path / "cos.keras")
    with pytest.raises(FrontendError, match="normalize=False"):
        hepinfer.compile(tmp_path / "cos.keras", MODEL_LEVEL)


def test_csim_equals_emulator_and_estimate(
    keras_model: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    model = hepinfer.compile(keras_model[0], MIXED)
    x = np.random.default_rng(6).normal(0, 2, size=(400, 6))
    want = np.asarray(model.predict(x))
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):  # Xilinx's ap_types (skips if absent), our own
            if headers == "xilinx" and find_ap_types_headers() is None:
                continue
            ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
            np.testing.assert_array_equal(ours.reshape(len(x), -1), want)
    assert "dot" in {layer.name for layer in model.estimate().layers}


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    keras_model: tuple[Path, list], tmp_path: Path, config: dict[str, Any]
) -> None:
    path, spec_ = keras_model
    x = np.random.default_rng(7).normal(0, 1, size=(3000, 6))
    theirs, trace = oracle((6,), spec_, x, tmp_path / "h", config, trace=True)
    model = hepinfer.compile(path, config)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs.reshape(len(x), -1))) == 0
    got = np.asarray(model.trace(x[:300])["dot"]).reshape(300, -1)
    assert int(np.count_nonzero(got != trace["dot"].reshape(300, -1))) == 0
