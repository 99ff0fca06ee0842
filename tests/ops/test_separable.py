"""DepthwiseConv1D, SeparableConv1D and SeparableConv2D (hls4ml 1.3: a depthwise convolution
`<name>_depthwise` then a 1x1 convolution `<name>_pointwise`, with hls4ml's per-part precision
names): float semantics against Keras, Keras 2 JSON, PyTorch depthwise Conv1d, HLS C
simulation == emulator (io_parallel, io_stream), estimate, and bit-exactness with hls4ml 1.3's
C simulation on Keras 3 models with random weights (the mixed configuration also sets a
ParallelizationFactor: hls4ml's partitions, and its C simulation with them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.config import Config, Precision
from hepinfer.fixed import FixedType
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.frontends.keras import load_json_h5
from hepinfer.hls.writer import render
from hepinfer.ir import Op
from tests.ops.keras_oracle import (
    MODEL_LEVEL,
    import_keras,
    keras2_files,
    keras_file,
    oracle_json,
)

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PARTS = ("sep_depthwise", "sep_pointwise")
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "sep": {
            "Precision": {
                "depthwise": "ap_fixed<8,2>",
                "depthwise_accum": "ap_fixed<18,7>",
                "depthwise_result": "ap_fixed<12,5,AP_RND,AP_SAT>",
                "pointwise": "ap_fixed<9,3>",
                "pointwise_accum": "ap_fixed<20,8>",
                "result": "ap_fixed<14,5,AP_RND>",
                "bias": "ap_fixed<10,4>",
            },
            # hls4ml's ParallelizationFactor (io_parallel; each part takes it by its own rule:
            # 2D 36 positions -> 12 partitions, 1D 3 positions -> 1)
            "ParallelizationFactor": 3,
        },
        "dw": {
            "Precision": {
                "weight": "ap_fixed<10,3>",
                "accum": "ap_fixed<20,8>",
                "result": "ap_fixed<13,5,AP_RND_CONV,AP_SAT>",
            },
            # 2D: 9 positions, 3 partitions; 1D: 8 positions, 3 is not a divisor: 2 (warned)
            "ParallelizationFactor": 3,
        },
        "out": {"Precision": {"result": "ap_fixed<18,8>"}},
    },
}


def layers_2d(rng: np.random.Generator) -> list[dict[str, Any]]:
    """(6, 6, 3) -> SeparableConv2D (same, relu) -> DepthwiseConv2D -> Dense."""
    return [
        {
            "class": "SeparableConv2D",
            "config": {
                "filters": 4,
                "kernel_size": (3, 3),
                "padding": "same",
                "activation": "relu",
                "name": "sep",
            },
            "weights": [
                rng.normal(0, 0.6, size=(3, 3, 3, 1)),
                rng.normal(0, 0.6, size=(1, 1, 3, 4)),
                rng.normal(0, 0.5, size=4),
            ],
        },
        {
            "class": "DepthwiseConv2D",
            "config": {"kernel_size": (2, 2), "strides": 2, "name": "dw"},
            "weights": [rng.normal(0, 0.6, size=(2, 2, 4, 1)), rng.normal(0, 0.5, size=4)],
        },
        {"class": "Flatten", "config": {"name": "flat"}},
        {
            "class": "Dense",
            "config": {"units": 3, "name": "out"},
            "weights": [rng.normal(0, 0.3, size=(36, 3)), rng.normal(0, 0.5, size=3)],
        },
    ]


def layers_1d(rng: np.random.Generator) -> list[dict[str, Any]]:
    """(10, 3) -> DepthwiseConv1D -> SeparableConv1D (stride 2) -> Dense."""
    return [
        {
            "class": "DepthwiseConv1D",
            "config": {"kernel_size": 3, "name": "dw"},
            "weights": [rng.normal(0, 0.6, size=(3, 3, 1)), rng.normal(0, 0.5, size=3)],
        },
        {
            "class": "SeparableConv1D",
            "config": {"filters": 4, "kernel_size": 3, "strides": 2, "name": "sep"},
            "weights": [
                rng.normal(0, 0.6, size=(3, 3, 1)),
                rng.normal(0, 0.6, size=(1, 3, 4)),
                rng.normal(0, 0.5, size=4),
            ],
        },
        {"class": "Flatten", "config": {"name": "flat"}},
        {
            "class": "Dense",
            "config": {"units": 3, "name": "out"},
            "weights": [rng.normal(0, 0.3, size=(12, 3)), rng.normal(0, 0.5, size=3)],
        },
    ]


SHAPES = {"2d": (6, 6, 3), "1d": (10, 3)}
LAYERS = {"2d": layers_2d, "1d": layers_1d}


@pytest.fixture(scope="module", params=list(SHAPES))
def keras_model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, list[dict[str, Any]]]:
    kind = str(request.param)
    spec_ = LAYERS[kind](np.random.default_rng(41))
    path = keras_file(SHAPES[kind], spec_, tmp_path_factory.mktemp("k") / f"sep_{kind}.keras")
    return kind, path, spec_


def test_part_precisions_follow_hls4ml() -> None:
    """hls4ml's SeparableToDepthwiseAndConv: `<role>` is the weight, `<role>_accum` the
    accumulator, `<role>_result` the result; the layer's other variables reach both parts.
    """
    cfg = Config.from_dict(MIXED)
    t = FixedType.parse
    keys = ("DepthwiseConv2D",)
    assert cfg.precision("sep_depthwise", keys, "weight") == t("ap_fixed<8,2>")
    assert cfg.precision("sep_depthwise", keys, "accum") == t("ap_fixed<18,7>")
    assert cfg.precision("sep_depthwise", keys, "result") == t("ap_fixed<12,5,AP_RND,AP_SAT>")
    assert cfg.precision("sep_pointwise", ("Conv2D",), "weight") == t("ap_fixed<9,3>")
    assert cfg.precision("sep_pointwise", ("Conv2D",), "accum") == t("ap_fixed<20,8>")
    assert cfg.precision("sep_pointwise", ("Conv2D",), "result") == t("ap_fixed<14,5,AP_RND>")
    assert cfg.precision("sep_pointwise", ("Conv2D",), "bias") == t("ap_fixed<10,4>")
    assert cfg.precision("other_depthwise", keys, "weight") == t("ap_fixed<16,6>")
    sep = Precision.from_dict(MIXED["LayerName"]["sep"]["Precision"], "sep")
    assert Precision.from_dict(sep.to_dict(), "again") == sep  # the part variables round-trip


def test_keras_float_mode_matches_keras(keras_model: tuple[str, Path, list]) -> None:
    keras = import_keras()
    kind, path, _ = keras_model
    model = hepinfer.compile(path, MIXED)  # LayerName 'sep' names the separable layer
    names = {n.name: n.op for n in model.graph.nodes}
    rank = 2 if kind == "2d" else 1
    assert names["sep_depthwise"] is (Op.DEPTHWISE_CONV2D if rank == 2 else Op.DEPTHWISE_CONV1D)
    assert names["sep_pointwise"] is (Op.CONV2D if rank == 2 else Op.CONV1D)
    assert names["dw"] is (Op.DEPTHWISE_CONV2D if rank == 2 else Op.DEPTHWISE_CONV1D)
    x = np.random.default_rng(1).normal(0, 2, size=(300, *SHAPES[kind]))
    ref = np.asarray(keras.models.load_model(path).predict(x.astype(np.float32), verbose=0))
    np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)


def test_keras2_json_reads_the_same_model(
    keras_model: tuple[str, Path, list], tmp_path: Path
) -> None:
    """Keras 2's JSON + HDF5 (a Sequential with lists, `batch_input_shape`, Keras 2's weight
    names) gives the same graph as the Keras 3 model.
    """
    kind, path, spec_ = keras_model
    json_path, h5_path = keras2_files(SHAPES[kind], spec_, tmp_path / "k2")
    x = np.random.default_rng(2).normal(0, 2, size=(100, *SHAPES[kind]))
    ours = hepinfer.compile(load_json_h5(json_path, h5_path), MIXED).predict(x, mode="float")
    theirs = hepinfer.compile(path, MIXED).predict(x, mode="float")
    np.testing.assert_array_equal(ours, theirs)


def test_torch_depthwise_conv1d() -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.frontends.torch import from_torch_module

    net = torch.nn.Sequential(
        torch.nn.Conv1d(3, 3, 3, groups=3, padding=1),
        torch.nn.Conv1d(3, 2, 1),
        torch.nn.Flatten(),
    ).eval()
    graph = from_torch_module(net, (3, 8))
    assert Op.DEPTHWISE_CONV1D in {n.op for n in graph.nodes}
    x = np.random.default_rng(3).normal(size=(50, 3, 8))
    ref = net(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    ours = hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float")
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_csim_equals_emulator_and_estimate(
    keras_model: tuple[str, Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    kind, path, _ = keras_model
    model = hepinfer.compile(path, MIXED)
    x = np.random.default_rng(6).normal(0, 3, size=(300, *SHAPES[kind]))
    want = np.asarray(model.predict(x))
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):  # Xilinx's ap_types (skips if absent), our own
            if headers == "xilinx" and find_ap_types_headers() is None:
                continue
            ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
            np.testing.assert_array_equal(ours.reshape(len(x), -1), want)
    est = model.estimate()
    names = {layer.name for layer in est.layers}
    assert {*PARTS, "dw", "out"} <= names


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    keras_model: tuple[str, Path, list], tmp_path: Path, config: dict[str, Any]
) -> None:
    """hls4ml 1.3's Keras 3 handler of SeparableConv1D/2D fails (it loads a `kernel` the
    layer does not have), so hls4ml converts the same model from Keras 2 JSON + HDF5.
    """
    kind, path, spec_ = keras_model
    files = keras2_files(SHAPES[kind], spec_, tmp_path / "k2")
    x = np.random.default_rng(7).normal(0, 2, size=(2500, *SHAPES[kind]))
    theirs, trace = oracle_json(files, x, tmp_path / "h", config, trace=True)
    model = hepinfer.compile(load_json_h5(*files), config)
    np.testing.assert_array_equal(  # the same model as the Keras 3 file
        model.predict(x[:50], mode="float"),
        hepinfer.compile(path, config).predict(x[:50], mode="float"),
    )
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs.reshape(len(x), -1))) == 0
    mine = model.trace(x[:300])
    for name in (*PARTS, "dw"):
        got = np.asarray(mine[name]).reshape(300, -1)
        assert int(np.count_nonzero(got != trace[name].reshape(300, -1))) == 0, name
    # the partitions of the ParallelizationFactor (MIXED) are hls4ml's, layer by layer
    pattern = r"n_partitions = (\d+)"
    theirs_params = (tmp_path / "h" / "prj" / "firmware" / "parameters.h").read_text()
    ours_params = render(model.graph).text["firmware/parameters.h"]
    partitions = re.findall(pattern, ours_params)
    assert partitions == re.findall(pattern, theirs_params)
    plain = render(hepinfer.compile(load_json_h5(*files), MODEL_LEVEL).graph)
    at_pf_1 = re.findall(pattern, plain.text["firmware/parameters.h"])
    assert (partitions != at_pf_1) == (config is MIXED)  # the factor took effect
