"""LayerNormalization: semantics, frontends (Keras 3, Keras 2 JSON, PyTorch) and bit-exactness with
hls4ml 1.3's C simulation on a Keras 3 model with random gamma/beta, on a (seq, features)
input (hls4ml's only form) and, row by row, on a 1D input. HLS C simulation == emulator
(io_parallel, io_stream, both header sets) and the estimate: `test_time_distributed.py`, whose
project holds this layer too (one set of C simulation builds for both).
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
from hepinfer.frontends.keras import load_json_h5
from hepinfer.ir import Node, NodePrecision, Op, TensorType
from hepinfer.ops import layernorm, spec
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras2_files, keras_file, oracle

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SEQ, DIM = 3, 8
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "ln": {
            "Precision": {
                "accum": "ap_fixed<18,5,AP_RND,AP_SAT>",
                "scale": "ap_fixed<10,3>",
                "bias": "ap_fixed<9,2>",
                "result": "ap_fixed<12,4,AP_RND,AP_SAT>",
            },
            "TableSize": 1024,
            "TableRangePower2": 1,
        },
    },
}


def layers(rng: np.random.Generator, axis: int = 2) -> list[dict[str, Any]]:
    gamma, beta = rng.normal(1.0, 0.5, size=DIM), rng.normal(0.0, 0.5, size=DIM)
    return [
        {
            "class": "LayerNormalization",
            "config": {"axis": axis, "name": "ln"},
            "weights": [gamma, beta],
        }
    ]


def inputs(n: int, seed: int, shape: tuple[int, ...] = (SEQ, DIM)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # rows of different spreads, so the variance covers the table
    return rng.normal(0, 1, size=(n, *shape)) * rng.uniform(0.05, 3, size=(n, *shape[:-1], 1))


@pytest.fixture(scope="module")
def keras_model(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, list[dict[str, Any]]]:
    spec_ = layers(np.random.default_rng(52))
    folder = tmp_path_factory.mktemp("k")
    seq = keras_file((SEQ, DIM), spec_, folder / "ln.keras")
    flat = [{**spec_[0], "config": {**spec_[0]["config"], "axis": -1}}]
    return seq, keras_file((DIM,), flat, folder / "ln1d.keras"), spec_


def _node(precision: NodePrecision) -> Node:
    scale, bias = np.array([1.0, 0.5, -2.0, 1.0]), np.array([0.0, 0.25, 0.5, -1.0])
    attrs = {"epsilon": 1e-3, "epsilon_power_of_10": 3}
    node = Node("ln", Op.LAYERNORM, ("x",), TensorType((4,)), attrs, {"scale": scale, "bias": bias})
    return node.replace(precision=precision)


def test_float_and_fixed_semantics() -> None:
    x = np.array([[1.0, 2.0, 3.0, 6.0]])
    node = _node(NodePrecision())
    d = x - 3.0
    want = d / np.sqrt(3.5 + 1e-3) * node.weights["scale"] + node.weights["bias"]
    np.testing.assert_allclose(spec(Op.LAYERNORM).run_float(node, [x]), want, rtol=1e-12)
    # fixed (accum_t 16,6): mean 3 and var 3.5 exact; the index int(3.5 * 4096) clamps to
    # the last entry, 1 / sqrt(0.001 + 4095 / 4096) in ap_ufixed<8,5,RND_CONV,SAT> = 1.0
    t = FixedType.parse("ap_fixed<16,6>")
    node = _node(NodePrecision(weight=t, bias=t, result=t, accum=t))
    got = spec(Op.LAYERNORM).run_fixed(node, [FxArray.from_float(x, t)])
    np.testing.assert_array_equal(got.to_float(), d * node.weights["scale"] + node.weights["bias"])
    # variance 1/4 reads entry 1024: 1 / sqrt(0.001 + 0.25) = 1.996 -> 2.0 (3 frac bits)
    y = np.array([[-0.5, 0.5, -0.5, 0.5]])
    got = spec(Op.LAYERNORM).run_fixed(node, [FxArray.from_float(y, t)])
    np.testing.assert_array_equal(got.to_float(), [[-1.0, 0.75, 2.5, 0.0]])
    assert layernorm.table(node)[1024] == 16  # 2.0 * 8
    # hls4ml's default accum_t ap_fixed<14,4,RND_CONV,SAT> saturates the sum 12 at 7.99...
    node = _node(NodePrecision(weight=t, bias=t, result=t))
    got = spec(Op.LAYERNORM).run_fixed(node, [FxArray.from_float(x, t)])
    assert not np.array_equal(got.to_float(), d * node.weights["scale"] + node.weights["bias"])


def test_refused_variants_name_the_layer() -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.frontends.torch import from_torch_module

    net = torch.nn.Sequential(torch.nn.LayerNorm((SEQ, DIM))).eval()
    with pytest.raises(FrontendError, match=r"LayerNorm '0' over normalized_shape=\(3, 8\)"):
        from_torch_module(net, (SEQ, DIM))
    keras = import_keras()
    inp = keras.Input((SEQ, DIM))
    model = keras.Model(inp, keras.layers.LayerNormalization(axis=1, name="ln1")(inp))
    with pytest.raises(FrontendError, match=r"'ln1' \(LayerNormalization\) with axis=\[1\]"):
        hepinfer.compile(model, MODEL_LEVEL)


def test_keras_and_torch_float_mode(keras_model: tuple[Path, Path, list], tmp_path: Path) -> None:
    keras = import_keras()
    seq, flat, spec_ = keras_model
    x = inputs(300, 1)
    for path, xs in ((seq, x), (flat, x[:, 0])):
        model = hepinfer.compile(path, MODEL_LEVEL)
        assert Op.LAYERNORM in {n.op for n in model.graph.nodes}
        ref = np.asarray(keras.models.load_model(path).predict(xs, verbose=0))
        np.testing.assert_allclose(model.predict(xs, mode="float"), ref, rtol=1e-5, atol=1e-5)
    k2 = load_json_h5(*keras2_files((SEQ, DIM), spec_, tmp_path / "k2"))  # Keras 2 JSON + HDF5
    np.testing.assert_array_equal(
        hepinfer.compile(k2, MODEL_LEVEL).predict(x, mode="float"),
        hepinfer.compile(seq, MODEL_LEVEL).predict(x, mode="float"),
    )
    torch = pytest.importorskip("torch")
    from hepinfer.frontends.torch import from_torch_module

    net = torch.nn.Sequential(torch.nn.LayerNorm(DIM, eps=1e-5)).eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(spec_[0]["weights"][0]))
        net[0].bias.copy_(torch.tensor(spec_[0]["weights"][1]))
    graph = from_torch_module(net, (SEQ, DIM))
    ref = net(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    ours = hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float")
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    keras_model: tuple[Path, Path, list], tmp_path: Path, config: dict[str, Any]
) -> None:
    seq, flat, spec_ = keras_model
    x = inputs(2500, 7)
    theirs, _ = oracle((SEQ, DIM), spec_, x, tmp_path / "h", config)
    theirs = theirs.reshape(len(x), -1)
    ours = np.asarray(hepinfer.compile(seq, config).predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs)) == 0
    # the 1D layer (which hls4ml 1.3 refuses) is hls4ml's kernel on one row: the same bits
    rows = np.asarray(hepinfer.compile(flat, config).predict(x.reshape(-1, DIM)))
    assert int(np.count_nonzero(rows.reshape(len(x), -1) != theirs)) == 0
