"""C simulation equals the emulator bit for bit (10,000 inputs per model and configuration).

Each case is one g++ build (cached for the session under a temporary HEPINFER_CACHE); Xilinx's
headers (from the installed hls4ml wheel) are compiled for a subset, hepinfer's own header for
all, to keep the suite's compile time low.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import ConfigError
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.hls import csim as hls_csim
from tests.hls.onnx_models import (
    branches,
    conv2d,
    convnet,
    elementwise,
    merges,
    mlp,
    pooling,
    softmax_rows,
    transpose,
)

N = 10_000
SMALL = ((10, 24, 16, 12, 5), ("Relu", "Tanh", "Sigmoid", "Softmax"))

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "resource_rf4_sat": {
        "Model": {
            "Precision": {"default": "ap_fixed<14,5>", "accum": "ap_fixed<20,8,AP_RND,AP_SAT>"},
            "ReuseFactor": 4,
            "Strategy": "Resource",
        },
        "LayerName": {"softmax3": {"Implementation": "latency"}},
    },
    "resource_rf3_mixed": {
        "Model": {"Precision": "ap_fixed<18,7>", "ReuseFactor": 3, "Strategy": "Resource"},
        "LayerName": {
            "fc0": {"Precision": {"weight": "ap_fixed<8,3,AP_RND_CONV,AP_SAT_SYM>"}},
            "relu0": {"Precision": {"result": "ap_ufixed<10,4,AP_RND_INF,AP_SAT>"}},
            "fc1": {"Precision": {"accum": "ap_fixed<24,10,AP_TRN_ZERO,AP_SAT_ZERO>"}},
            "sigmoid2": {"Precision": {"table": "ap_fixed<12,2,AP_RND>"}, "TableSize": 512},
            "fc3": {"Precision": {"result": "ap_fixed<12,4,AP_RND_ZERO,AP_WRAP>"}},
            "softmax3": {"Implementation": "argmax"},
        },
    },
    "latency_rf2_narrow": {
        "Model": {"Precision": "ap_fixed<10,4,AP_RND_MIN_INF,AP_SAT>", "ReuseFactor": 2},
        "LayerName": {"softmax3": {"Precision": {"table": "ap_fixed<16,6,AP_RND,AP_SAT>"}}},
    },
}

# (config, io_type, headers)
SMALL_CASES = [
    ("default", "io_parallel", "hepinfer"),
    ("default", "io_parallel", "xilinx"),
    ("resource_rf4_sat", "io_stream", "hepinfer"),
    ("resource_rf3_mixed", "io_parallel", "hepinfer"),
    ("latency_rf2_narrow", "io_stream", "hepinfer"),
]


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("HEPINFER_CACHE", str(tmp_path_factory.mktemp("hepinfer-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mlp(tmp_path_factory.mktemp("onnx") / "small.onnx", *SMALL)


def _inputs(n_features: int, scale: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, n_features)) * scale


def _need_headers(headers: str) -> None:
    if headers == "xilinx" and find_ap_types_headers() is None:
        pytest.skip("Xilinx ap_types headers not found (install hls4ml or set XILINX_HLS)")


def _assert_bit_exact(
    model: hepinfer.CompiledModel, x: np.ndarray, io: str, headers: str, vary: bool = True
) -> None:
    expected = model.predict(x)
    got = model.csim(x, io_type=io, headers=headers)
    assert isinstance(got, np.ndarray)
    assert isinstance(expected, np.ndarray)
    assert got.shape == expected.shape
    if vary:
        assert np.unique(expected, axis=0).shape[0] > 1, "constant outputs: weak test"
    bad = np.flatnonzero((got != expected).any(axis=1))
    assert bad.size == 0, (
        f"{bad.size} samples differ, first {bad[0]}: {got[bad[0]]} vs {expected[bad[0]]}"
    )


@pytest.mark.parametrize(("config", "io", "headers"), SMALL_CASES)
def test_small_mlp_bit_exact(small_model: Path, config: str, io: str, headers: str) -> None:
    _need_headers(headers)
    model = hepinfer.compile(small_model, CONFIGS[config])
    _assert_bit_exact(model, _inputs(SMALL[0][0], 3.0), io, headers)


JET_CASES = [
    ("KERAS_3layer", {}, "io_parallel", "hepinfer"),
    ("KERAS_3layer", {}, "io_parallel", "xilinx"),
    (
        "KERAS_3layer",
        {
            "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 8, "Strategy": "Resource"},
            "LayerName": {
                "fc1_relu": {
                    "Precision": {"weight": "ap_fixed<8,2,AP_RND>", "accum": "ap_fixed<22,8>"}
                },
                "output_softmax": {"Precision": {"result": "ap_fixed<16,6,AP_RND,AP_SAT>"}},
            },
        },
        "io_stream",
        "hepinfer",
    ),
    (
        "KERAS_3layer_batch_norm",
        {"Model": {"Precision": "ap_fixed<18,8>"}},
        "io_parallel",
        "hepinfer",
    ),
]


@pytest.mark.parametrize(("name", "config", "io", "headers"), JET_CASES)
def test_jet_tagger_bit_exact(
    shared_data: Path, name: str, config: dict[str, Any], io: str, headers: str
) -> None:
    _need_headers(headers)
    model = hepinfer.compile(
        shared_data / "hls4ml-example-models" / "keras" / f"{name}.json", config
    )
    _assert_bit_exact(model, _inputs(16, 1.5, seed=1), io, headers)


def test_second_build_is_cached(small_model: Path) -> None:
    model = hepinfer.compile(small_model)
    x = _inputs(SMALL[0][0], 3.0)[:100]
    first = model.csim(x, headers="hepinfer")
    from hepinfer.hls.csim import build
    from hepinfer.hls.writer import render

    lib = build(render(model.graph), "hepinfer")
    stamp = lib.stat().st_mtime_ns
    again = model.csim(x, headers="hepinfer")
    assert lib.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(first, again)


def test_models_differing_in_weights_share_the_build(tmp_path: Path) -> None:
    # hls4ml's fixed types (hepinfer's default sizes weight types to the weights' range)
    a = hepinfer.compile(mlp(tmp_path / "a.onnx", *SMALL, seed=1), hepinfer.Config.hls4ml())
    b = hepinfer.compile(mlp(tmp_path / "b.onnx", *SMALL, seed=2), hepinfer.Config.hls4ml())
    x = _inputs(SMALL[0][0], 3.0)[:500]
    from hepinfer.hls.csim import build
    from hepinfer.hls.writer import render

    assert build(render(a.graph), "hepinfer") == build(render(b.graph), "hepinfer")
    ya, yb = a.csim(x, headers="hepinfer"), b.csim(x, headers="hepinfer")
    np.testing.assert_array_equal(ya, a.predict(x))
    np.testing.assert_array_equal(yb, b.predict(x))
    assert (ya != yb).any()


def test_bad_headers_and_inputs(small_model: Path) -> None:
    graph = hepinfer.compile(small_model).graph
    with pytest.raises(ConfigError, match="headers: 'vivado' is not one of"):
        hls_csim(graph, np.zeros((2, 10)), headers="vivado")  # type: ignore[arg-type]
    with pytest.raises(hepinfer.HepinferError, match="shape"):
        hls_csim(graph, np.zeros((2, 9)), headers="hepinfer")


CONV_CASES = [
    ({"Model": {"Precision": "ap_fixed<16,6>"}}, "io_parallel", "hepinfer"),
    (
        {
            "Model": {
                "Precision": {"default": "ap_fixed<14,5>", "accum": "ap_fixed<18,7,AP_RND,AP_SAT>"},
                "ReuseFactor": 3,
                "Strategy": "Resource",
            }
        },
        "io_stream",
        "xilinx",
    ),
]


@pytest.mark.parametrize(("config", "io", "headers"), CONV_CASES)
def test_small_conv2d_bit_exact(
    tmp_path: Path, config: dict[str, Any], io: str, headers: str
) -> None:
    """Strides, asymmetric padding and dilation; NHWC input as tf2onnx writes it."""
    _need_headers(headers)
    model = hepinfer.compile(conv2d(tmp_path / "conv.onnx"), config)
    x = np.random.default_rng(2).normal(size=(N, 7, 9, 2))
    _assert_bit_exact(model, x, io, headers)


@pytest.mark.parametrize(
    ("path", "config", "io"),
    [
        (
            "keras/KERAS_conv1d_small.json",
            {"Model": {"Precision": "ap_fixed<16,6>"}},
            "io_parallel",
        ),
        (
            "onnx/conv2d_small_keras.onnx",
            {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 2, "Strategy": "Resource"}},
            "io_stream",
        ),
    ],
)
def test_shared_conv_models_bit_exact(
    shared_data: Path, path: str, config: dict[str, Any], io: str
) -> None:
    model = hepinfer.compile(shared_data / "hls4ml-example-models" / path, config)
    shape = model.graph.inputs[0].out.shape
    x = np.random.default_rng(3).normal(size=(N, *shape))
    _assert_bit_exact(model, x, io, "hepinfer")


@pytest.mark.parametrize(
    ("config", "io", "headers"),
    [
        (
            {
                "Model": {"Precision": "ap_fixed<14,5,AP_RND,AP_SAT>"},
                "LayerName": {
                    "leaky": {"Precision": {"weight": "ap_fixed<8,1>"}},
                    "elu": {"Precision": {"table": "ap_fixed<12,3,AP_RND_CONV>"}, "TableSize": 256},
                },
            },
            "io_stream",
            "hepinfer",
        ),
        ({}, "io_parallel", "xilinx"),
    ],
)
def test_elementwise_layers_bit_exact(
    tmp_path: Path, config: dict[str, Any], io: str, headers: str
) -> None:
    """Standalone BatchNormalization, LeakyReLU, ELU (table) and HardSigmoid."""
    _need_headers(headers)
    model = hepinfer.compile(elementwise(tmp_path / "e.onnx"), config)
    _assert_bit_exact(model, _inputs(8, 2.0), io, headers)


SHARED_MODELS = [
    "hls4ml-example-models/keras/KERAS_1layer.json",
    "hls4ml-example-models/keras/KERAS_dense_16x100x100x100x100x100x5.json",
    "hls4ml-example-models/keras/qkeras_3layer.json",
    "hls4ml-example-models/onnx/three_layer_keras.onnx",
    "hls4ml-example-models/onnx/three_layer_pytorch.onnx",
    "hls4ml-example-models/onnx/three_layer_bn_pytorch.onnx",
    "hls4ml-example-models/onnx/two_layer_keras.onnx",
    "hls4ml-example-models/onnx/conv1d_small_keras.onnx",
    "hls4ml-example-models/pytorch/three_layer_model.pt",
    "qonnx/qkeras_jettagging.onnx",
]


@pytest.mark.parametrize("path", SHARED_MODELS)
def test_every_shared_example_model_bit_exact(shared_data: Path, path: str) -> None:
    """The shared example models not covered above, default configuration, io_parallel."""
    model = hepinfer.compile(shared_data / path)
    shape = model.graph.inputs[0].out.shape
    x = np.random.default_rng(4).normal(size=(N, *shape))
    # the deep 16x100x...x5 example network gives one output for every input at ap_fixed<16,6>
    # (in hls4ml too): nothing to vary there
    _assert_bit_exact(model, x, "io_parallel", "hepinfer", vary="16x100" not in path)


STREAM_SHARED_MODELS = [
    *SHARED_MODELS,
    "hls4ml-example-models/keras/KERAS_3layer.json",
    "hls4ml-example-models/keras/KERAS_3layer_batch_norm.json",
    "hls4ml-example-models/keras/KERAS_conv1d_small.json",
    "hls4ml-example-models/onnx/conv2d_small_keras.onnx",
]


@pytest.mark.parametrize("path", STREAM_SHARED_MODELS)
def test_every_shared_example_model_bit_exact_in_io_stream(shared_data: Path, path: str) -> None:
    """Every shared example model in io_stream (one pixel per stream word), default config."""
    model = hepinfer.compile(shared_data / path)
    shape = model.graph.inputs[0].out.shape
    x = np.random.default_rng(11).normal(size=(N, *shape))
    _assert_bit_exact(model, x, "io_stream", "hepinfer", vary="16x100" not in path)


@pytest.mark.parametrize(
    ("global_op", "count_pad", "io", "headers"),
    [
        ("GlobalMaxPool", 1, "io_stream", "hepinfer"),
        ("GlobalAveragePool", 0, "io_parallel", "xilinx"),
        ("GlobalAveragePool", 0, "io_stream", "xilinx"),
    ],
)
def test_pooling_bit_exact(
    tmp_path: Path, global_op: str, count_pad: int, io: str, headers: str
) -> None:
    """Max and average pooling with padding (counted or not), global max / average pooling."""
    _need_headers(headers)
    config = {
        "Model": {"Precision": "ap_fixed<14,5>"},
        "LayerType": {"AveragePooling": {"Precision": {"accum": "ap_fixed<18,6,AP_RND,AP_SAT>"}}},
    }
    model = hepinfer.compile(pooling(tmp_path / "p.onnx", global_op, count_pad), config)
    x = np.random.default_rng(5).normal(size=(N, 9, 7, 2)) * 2
    _assert_bit_exact(model, x, io, headers)


MERGE_CONFIG = {
    "Model": {"Precision": "ap_fixed<14,5>"},
    "LayerName": {
        "add": {"Precision": {"result": "ap_fixed<12,4,AP_RND,AP_SAT>"}},
        "concat": {"Precision": {"result": "ap_fixed<10,4,AP_RND_CONV,AP_SAT>"}},
    },
}


@pytest.mark.parametrize(
    ("io", "headers"),
    [("io_parallel", "hepinfer"), ("io_parallel", "xilinx"), ("io_stream", "hepinfer")],
)
def test_branches_and_merges_bit_exact(tmp_path: Path, io: str, headers: str) -> None:
    """One input feeding three layers; Add, Multiply and a 3-input Concatenate."""
    _need_headers(headers)
    model = hepinfer.compile(merges(tmp_path / "m.onnx"), MERGE_CONFIG)
    _assert_bit_exact(model, _inputs(6, 2.0), io, headers)


@pytest.mark.parametrize(
    ("io", "headers"),
    [("io_stream", "hepinfer"), ("io_stream", "xilinx"), ("io_parallel", "hepinfer")],
)
def test_residual_block_and_concatenations_bit_exact(tmp_path: Path, io: str, headers: str) -> None:
    """A skip connection (Add), Multiply, a 3-input Concatenate on channels and one along the
    rows reading one tensor twice: clones in io_stream; Resource strategy.
    """
    _need_headers(headers)
    config = {
        "Model": {"Precision": "ap_fixed<14,5>", "ReuseFactor": 2, "Strategy": "Resource"},
        "LayerName": {"concat": {"Precision": {"result": "ap_fixed<10,4,AP_RND,AP_SAT>"}}},
    }
    model = hepinfer.compile(branches(tmp_path / "b.onnx"), config)
    x = np.random.default_rng(8).normal(size=(N, 6, 5, 3))
    _assert_bit_exact(model, x, io, headers)


@pytest.mark.parametrize(
    ("rank", "padding", "stride", "headers"),
    [
        (2, "same", 1, "hepinfer"),
        (2, "same", 2, "xilinx"),
        (2, "valid", 1, "xilinx"),
        (2, "valid", 2, "hepinfer"),
        (1, "same", 1, "xilinx"),
        (1, "same", 2, "hepinfer"),
        (1, "valid", 2, "xilinx"),
    ],
)
def test_streaming_convolutions_bit_exact(
    tmp_path: Path, rank: int, padding: str, stride: int, headers: str
) -> None:
    """io_stream Conv1D / Conv2D (line buffers), 'same' and 'valid' padding, stride 1 and 2,
    padded max pooling, Dense reading the flattened pixels.
    """
    _need_headers(headers)
    model = hepinfer.compile(
        convnet(tmp_path / "c.onnx", rank, padding, stride),
        {"Model": {"Precision": "ap_fixed<14,5>", "ReuseFactor": 3}},
    )
    x = np.random.default_rng(9).normal(size=(N, *model.graph.inputs[0].out.shape))
    _assert_bit_exact(model, x, "io_stream", headers)


def test_streaming_softmax_after_flatten_repacks(tmp_path: Path) -> None:
    """Softmax over the flattened pixels of a Conv: the stream is repacked to one word."""
    model = hepinfer.compile(
        convnet(tmp_path / "c.onnx", 2, "same", 1, dense=False),
        {"Model": {"Precision": "ap_fixed<14,5>"}},
    )
    from hepinfer.hls.writer import render

    assert (
        "hepinfer::repack<"
        in render(model.graph, io_type="io_stream").text["firmware/myproject.cpp"]
    )
    x = np.random.default_rng(10).normal(size=(N, 7, 8, 2))
    _assert_bit_exact(model, x, "io_stream", "hepinfer")


@pytest.mark.parametrize(
    ("io", "headers"),
    [("io_stream", "hepinfer"), ("io_stream", "xilinx"), ("io_parallel", "xilinx")],
)
def test_depthwise_conv2d_bit_exact(tmp_path: Path, io: str, headers: str) -> None:
    """A dilated depthwise Conv2D after a strided, padded Conv2D; saturating accumulator."""
    _need_headers(headers)
    config = {
        "Model": {"Precision": "ap_fixed<14,5>"},
        "LayerName": {"c2": {"Precision": {"accum": "ap_fixed<16,6,AP_RND,AP_SAT>"}}},
    }
    model = hepinfer.compile(conv2d(tmp_path / "dw.onnx", depthwise=True), config)
    x = np.random.default_rng(6).normal(size=(N, 7, 9, 2))
    _assert_bit_exact(model, x, io, headers)


@pytest.mark.parametrize("io", ["io_parallel", "io_stream"])
def test_transpose_bit_exact(tmp_path: Path, io: str) -> None:
    model = hepinfer.compile(transpose(tmp_path / "t.onnx"))
    assert any(n.op.value == "Transpose" for n in model.graph.nodes)
    x = np.random.default_rng(7).normal(size=(N, 4, 3, 5))
    _assert_bit_exact(model, x, io, "hepinfer")


@pytest.mark.parametrize("io", ["io_parallel", "io_stream"])
def test_softmax_over_the_last_axis_of_a_2d_tensor(tmp_path: Path, io: str) -> None:
    """One softmax per row, as the emulator computes it (io_stream: one row per word)."""
    model = hepinfer.compile(softmax_rows(tmp_path / "s.onnx"))
    x = np.random.default_rng(12).normal(size=(N, 4, 3)) * 2
    expected = model.predict(x)
    assert isinstance(expected, np.ndarray)
    # rows sum to about 1 (table precision); one softmax over all 12 values would give ~0.25
    np.testing.assert_allclose(expected.sum(axis=-1), 1.0, atol=0.35)
    got = model.csim(x, io_type=io, headers="hepinfer")
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected)
