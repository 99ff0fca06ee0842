"""Embedding: semantics, frontends (Keras 3, Keras 2 JSON, PyTorch), HLS C simulation ==
emulator (io_parallel, io_stream, both header sets), estimate, and bit-exactness with hls4ml
1.3's C simulation on a Keras 3 model with a random table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.frontends.keras import load_json_h5
from hepinfer.ir import Node, NodePrecision, Op, TensorType
from hepinfer.ops import spec
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras2_files, keras_file, oracle

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

VOCAB, DIM, SEQ = 10, 4, 6
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "emb": {
            "Precision": {
                "embeddings": "ap_fixed<8,2,AP_RND>",
                "result": "ap_fixed<7,2,AP_RND,AP_SAT>",
            }
        },
        "out": {"Precision": {"result": "ap_fixed<18,8>"}},
    },
}


def layers(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [
        {
            "class": "Embedding",
            "config": {"input_dim": VOCAB, "output_dim": DIM, "name": "emb"},
            "weights": [rng.normal(0, 1.5, size=(VOCAB, DIM))],
        },
        {"class": "Flatten", "config": {"name": "flat"}},
        {
            "class": "Dense",
            "config": {"units": 3, "name": "out"},
            "weights": [rng.normal(0, 0.4, size=(SEQ * DIM, 3)), rng.normal(0, 0.5, size=3)],
        },
    ]


def indices(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, size=(n, SEQ)).astype(np.float64)


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    spec_ = layers(np.random.default_rng(51))
    return keras_file((SEQ,), spec_, tmp_path_factory.mktemp("k") / "emb.keras"), spec_


def test_rows_by_integer_part_clipped() -> None:
    table = np.arange(12.0).reshape(4, 3) / 8
    node = Node("e", Op.EMBEDDING, ("x",), TensorType((5, 3)), {}, {"embeddings": table})
    x = np.array([[0.0, 3.0, 2.75, -1.5, 9.0]])
    want = table[[0, 3, 2, 0, 3]][None]
    np.testing.assert_array_equal(spec(Op.EMBEDDING).run_float(node, [x]), want)
    t = FixedType.parse("ap_fixed<8,5>")
    node = node.replace(precision=NodePrecision(weight=FixedType.parse("ap_fixed<6,2>"), result=t))
    got = spec(Op.EMBEDDING).run_fixed(node, [FxArray.from_float(x, t)])
    np.testing.assert_array_equal(got.to_float(), want)


def test_keras_float_mode_matches_keras(keras_model: tuple[Path, list], tmp_path: Path) -> None:
    keras = import_keras()
    path, spec_ = keras_model
    model = hepinfer.compile(path, MODEL_LEVEL)
    assert Op.EMBEDDING in {n.op for n in model.graph.nodes}
    x = indices(300, 1)
    ref = np.asarray(keras.models.load_model(path).predict(x.astype(np.int32), verbose=0))
    np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)
    k2 = load_json_h5(*keras2_files((SEQ,), spec_, tmp_path / "k2"))  # Keras 2 JSON + HDF5
    np.testing.assert_array_equal(
        hepinfer.compile(k2, MODEL_LEVEL).predict(x, mode="float"), model.predict(x, mode="float")
    )


def test_torch_embedding() -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.frontends.torch import from_torch_module

    net = torch.nn.Sequential(torch.nn.Embedding(VOCAB, DIM), torch.nn.Flatten()).eval()
    graph = from_torch_module(net, (SEQ,))
    x = indices(50, 3)
    ref = net(torch.tensor(x, dtype=torch.long)).detach().numpy()
    ours = hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float")
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_csim_equals_emulator_and_estimate(
    keras_model: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    model = hepinfer.compile(keras_model[0], MIXED)
    x = np.concatenate([indices(300, 6), np.random.default_rng(6).normal(4, 8, size=(100, SEQ))])
    want = np.asarray(model.predict(x))  # out-of-range and fractional inputs too (clipped)
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):  # Xilinx's ap_types (skips if absent), our own
            if headers == "xilinx" and find_ap_types_headers() is None:
                continue
            ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
            np.testing.assert_array_equal(ours.reshape(len(x), -1), want)
    assert "emb" in {layer.name for layer in model.estimate().layers}


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    keras_model: tuple[Path, list], tmp_path: Path, config: dict[str, Any]
) -> None:
    path, spec_ = keras_model
    x = indices(2500, 7)  # valid indices: hls4ml reads out of bounds otherwise
    theirs, trace = oracle((SEQ,), spec_, x, tmp_path / "h", config, trace=True)
    model = hepinfer.compile(path, config)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs.reshape(len(x), -1))) == 0
    got = np.asarray(model.trace(x[:300])["emb"]).reshape(300, -1)
    assert int(np.count_nonzero(got != trace["emb"].reshape(300, -1))) == 0
