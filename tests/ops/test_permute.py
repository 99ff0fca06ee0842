"""Keras Permute (a Transpose): float semantics against Keras, HLS C simulation == emulator,
and bit-exactness with hls4ml 1.3's C simulation (its Transpose) on a Keras 3 model.

hls4ml 1.3 removes a Transpose right before a Flatten (its `remove_transpose_before_flatten`
pass), which changes the result of a Keras channels-last model; hepinfer follows Keras, so the
model here keeps a layer between them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.ir import Op
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras_file, oracle

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHAPE = (4, 5, 3)
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "c1": {"Precision": {"result": "ap_fixed<12,4,AP_RND,AP_SAT>", "weight": "ap_fixed<8,2>"}},
        "out": {"Precision": {"result": "ap_fixed<18,8>"}},
    },
}


def layers(rng: np.random.Generator) -> list[dict[str, Any]]:
    """(4, 5, 3) -> Permute (3, 1, 2) -> Conv2D -> Permute (2, 1, 3) -> 1x1 Conv2D -> Dense."""
    return [
        {"class": "Permute", "config": {"dims": (3, 1, 2), "name": "p1"}},
        {
            "class": "Conv2D",
            "config": {"filters": 2, "kernel_size": (2, 2), "name": "c1"},
            "weights": [rng.normal(0, 0.6, size=(2, 2, 5, 2)), rng.normal(0, 0.5, size=2)],
        },
        {"class": "Permute", "config": {"dims": (2, 1, 3), "name": "p2"}},
        {
            "class": "Conv2D",
            "config": {"filters": 2, "kernel_size": (1, 1), "name": "c2"},
            "weights": [rng.normal(0, 0.6, size=(1, 1, 2, 2)), rng.normal(0, 0.5, size=2)],
        },
        {"class": "Flatten", "config": {"name": "flat"}},
        {
            "class": "Dense",
            "config": {"units": 3, "name": "out"},
            "weights": [rng.normal(0, 0.3, size=(12, 3)), rng.normal(0, 0.5, size=3)],
        },
    ]


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    spec_ = layers(np.random.default_rng(71))
    return keras_file(SHAPE, spec_, tmp_path_factory.mktemp("k") / "permute.keras"), spec_


def test_float_and_csim(
    keras_model: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras = import_keras()
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    path, _ = keras_model
    model = hepinfer.compile(path, MIXED)
    assert [n.op for n in model.graph.nodes].count(Op.TRANSPOSE) == 2
    x = np.random.default_rng(1).normal(0, 2, size=(300, *SHAPE))
    ref = np.asarray(keras.models.load_model(path).predict(x.astype(np.float32), verbose=0))
    np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)
    # each IO type and each header set once (hepinfer's own, and Xilinx's when found)
    for io_type, headers in (("io_parallel", "hepinfer"), ("io_stream", "xilinx")):
        if headers == "xilinx" and find_ap_types_headers() is None:
            continue
        ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
        np.testing.assert_array_equal(ours.reshape(len(x), -1), np.asarray(model.predict(x)))


def test_csim_other_pairs_on_permutes_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two (IO type, header set) pairs `test_float_and_csim` leaves out, on the smallest
    model with both of its permutations (hls4ml 1.3 has a Transpose kernel for each IO type):
    with it, C simulation == emulator in io_parallel and io_stream with both header sets.
    """
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    spec_ = [
        {"class": "Permute", "config": {"dims": (3, 1, 2), "name": "p1"}},
        {"class": "Permute", "config": {"dims": (2, 1, 3), "name": "p2"}},
    ]
    model = hepinfer.compile(keras_file(SHAPE, spec_, tmp_path / "p.keras"), MODEL_LEVEL)
    assert [n.op for n in model.graph.nodes].count(Op.TRANSPOSE) == 2
    x = np.random.default_rng(2).normal(0, 4, size=(200, *SHAPE))
    want = np.asarray(model.predict(x)).reshape(len(x), -1)
    quantised = np.floor(x * 2**10) / 2**10  # the input's ap_fixed<16,6> (|x| < 32 here)
    moved = quantised.transpose(0, 3, 1, 2).transpose(0, 2, 1, 3).reshape(len(x), -1)
    np.testing.assert_array_equal(want, moved)  # the emulator moves the values, Keras' way
    for io_type, headers in (("io_parallel", "xilinx"), ("io_stream", "hepinfer")):
        if headers == "xilinx" and find_ap_types_headers() is None:
            continue
        ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
        np.testing.assert_array_equal(
            ours.reshape(len(x), -1), want, err_msg=f"{io_type} {headers}"
        )


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    keras_model: tuple[Path, list], tmp_path: Path, config: dict[str, Any]
) -> None:
    path, spec_ = keras_model
    x = np.random.default_rng(7).normal(0, 2, size=(2500, *SHAPE))
    theirs, trace = oracle(SHAPE, spec_, x, tmp_path / "h", config, trace=True)
    model = hepinfer.compile(path, config)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs.reshape(len(x), -1))) == 0
    mine = model.trace(x[:300])
    for name in ("p1", "c1", "p2", "c2"):
        got = np.asarray(mine[name]).reshape(300, -1)
        assert int(np.count_nonzero(got != trace[name].reshape(300, -1))) == 0, name
