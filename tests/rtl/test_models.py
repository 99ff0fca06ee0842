"""Verilator simulation of the generated Verilog equals the emulator bit for bit, and the
latency it measures equals the manifest's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import RtlError
from hepinfer.rtl import build
from tests.hls.onnx_models import mlp, pooling
from tests.rtl.conftest import need

N = 10_000


def _inputs(n_in: int, scale: float, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=(N, n_in))


def _assert_exact(model: hepinfer.CompiledModel, x: np.ndarray, **kw: Any) -> int:
    result = model.rtlsim(x, **kw)
    expected = model.predict(x)
    out = result.outputs[model.graph.outputs[0]]
    assert isinstance(expected, np.ndarray)
    np.testing.assert_array_equal(out.reshape(expected.shape), expected)
    design = build(model.graph, clock_period=model.config.clock_period, **kw)
    assert result.latency == design.latency
    assert (result.ii_min, result.ii_max) == (1, 1)
    return result.latency


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sizes, acts = (10, 12, 8, 5), ("Relu", "Tanh", "Softmax")
    return mlp(tmp_path_factory.mktemp("onnx") / "small.onnx", sizes, acts)


@pytest.mark.parametrize(
    "config",
    [
        {},  # hepinfer's default: exact accumulators, rounding and saturating results
        {"Model": {"Precision": "ap_fixed<12,5>"}},
        {
            "Model": {
                "Precision": {
                    "default": "ap_fixed<14,5>",
                    "accum": "ap_fixed<16,6,AP_RND,AP_SAT>",
                    "weight": "ap_fixed<6,2,AP_RND_CONV>",
                }
            },
            "LayerName": {"softmax2": {"Implementation": "latency", "TableSize": 256}},
        },
        {"LayerName": {"softmax2": {"Implementation": "argmax"}}},
    ],
    ids=["default", "model_12_5", "mixed_sat_latency", "argmax"],
)
def test_small_mlp(small: Path, config: dict[str, Any]) -> None:
    need("verilator")
    model = hepinfer.compile(small, config)
    _assert_exact(model, _inputs(10, 2.0))


def test_sigmoid_model(tmp_path: Path) -> None:
    need("verilator")
    path = mlp(tmp_path / "sig.onnx", (6, 3), ("Sigmoid",), seed=3)
    model = hepinfer.compile(path, {"Model": {"Precision": "ap_fixed<16,6>"}})
    _assert_exact(model, _inputs(6, 3.0))


def test_pipeline_settings_change_latency_not_bits(small: Path) -> None:
    need("verilator")
    model = hepinfer.compile(small)
    x = _inputs(10, 2.0)[:500]
    combinational = model.rtlsim(x, pipeline=0)
    assert combinational.latency == 2  # the input and the output registers only
    deep = model.rtlsim(x, clock_period=1.0)
    assert deep.latency > combinational.latency
    np.testing.assert_array_equal(deep.outputs["softmax2"], combinational.outputs["softmax2"])


#: the jet taggers of ../shared/data: (model file, weights file or None, configuration)
TAGGERS: dict[str, tuple[str, str | None, Any]] = {
    "3layer_16_6": ("KERAS_3layer.json", None, {"Model": {"Precision": "ap_fixed<16,6>"}}),
    # hepinfer's default: exact accumulators, AP_RND/AP_SAT results (wide products: DSPs)
    "3layer_default": ("KERAS_3layer.json", None, None),
    # the 70 %-pruned tagger at hls4ml's configuration (config_from_model: ap_fixed<16,6>)
    "3layer_pruned70": (
        "KERAS_3layer.json",
        "KERAS_3layer_70pruned_retrained_weights.h5",
        "config_from_model",
    ),
    # 10 features -> 32 (ReLU) -> 1 (sigmoid ROM), hepinfer's default
    "1layer_sigmoid": ("KERAS_1layer.json", None, None),
}


@pytest.mark.parametrize("name", list(TAGGERS))
def test_jet_taggers(shared_data: Path, name: str) -> None:
    need("verilator")
    folder = shared_data / "hls4ml-example-models" / "keras"
    model_file, weights, config = TAGGERS[name]
    source: Path | tuple[Path, Path] = folder / model_file
    if weights is not None:
        source = (folder / model_file, folder / weights)
    if config == "config_from_model":
        config = hepinfer.config_from_model(source)
    model = hepinfer.compile(source, config)
    n_in = model.graph.inputs[0].out.size
    latency = _assert_exact(model, _inputs(n_in, 1.5))
    assert latency >= 3  # the input and output registers and at least one datapath stage


def test_qonnx_low_bit_tagger(shared_data: Path) -> None:
    """The QKeras/QONNX jet tagger (6-bit weights and activations, shared CMVM logic, softmax):
    Verilator equals the emulator on 10,000 inputs and measures the manifest's latency.
    """
    need("verilator")
    model = hepinfer.compile(shared_data / "qonnx" / "qkeras_jettagging.onnx")
    n_in = model.graph.inputs[0].out.size
    latency = _assert_exact(model, _inputs(n_in, 1.5))
    assert latency >= 3


def test_write_verilog_files(small: Path, tmp_path: Path) -> None:
    model = hepinfer.compile(small)
    design = model.write_verilog(tmp_path / "rtl", top="tagger")
    names = sorted(p.name for p in (tmp_path / "rtl").iterdir())
    assert names == [
        "files.f",
        "manifest.json",
        "tagger.v",
        "tagger_tb.v",
        "tb_expected.hex",
        "tb_input.hex",
    ]
    # the default vectors: one all-zero sample and the emulator's outputs for it
    assert set((tmp_path / "rtl" / "tb_input.hex").read_text().strip()) == {"0"}
    assert len((tmp_path / "rtl" / "tb_expected.hex").read_text().split()) == 1
    manifest = json.loads((tmp_path / "rtl" / "manifest.json").read_text())
    assert manifest["latency_cycles"] == design.latency
    assert manifest["inputs"][0]["bits"] == 10 * manifest["inputs"][0]["element_bits"]
    assert "module tagger" in design.verilog


def test_dsp_rule(small: Path) -> None:
    """Low-bit weights are all shift-add; wide weights with many CSD digits use DSPs."""
    argmax = {"softmax2": {"Implementation": "argmax"}}  # the table softmax multiplies
    low = hepinfer.compile(
        small,
        {
            "Model": {"Precision": {"default": "ap_fixed<12,5>", "weight": "ap_fixed<3,1>"}},
            "LayerName": argmax,
        },
    )
    assert build(low.graph).counts["dsp_multipliers"] == 0
    wide = hepinfer.compile(small, {"Model": {"Precision": "ap_fixed<18,6>"}})
    counts = build(wide.graph).counts
    assert counts["dsp_multipliers"] > 0
    assert counts["shift_add_multipliers"] > 0


def test_average_pooling_2d(tmp_path: Path) -> None:
    """Conv2D (1x1: the pooling is under test), MaxPool 2x2, AveragePool 3x3 stride 2 with
    padding (not counted: the edge windows divide by 4 or 6, the others by 9),
    GlobalAveragePool, Dense.
    """
    need("verilator")
    source = pooling(tmp_path / "pool.onnx", channels=1, kernel=1)
    model = hepinfer.compile(source, {"Model": {"Precision": "ap_fixed<12,4>"}})
    assert {n.op.value for n in model.graph.nodes} >= {"AveragePooling", "GlobalAveragePooling"}
    shape = model.graph.inputs[0].out.shape
    x = np.random.default_rng(4).normal(scale=1.5, size=(2_000, *shape))
    result = model.rtlsim(x)
    expected = model.predict(x)
    assert isinstance(expected, np.ndarray)
    out = result.outputs[model.graph.outputs[0]]
    np.testing.assert_array_equal(out.reshape(expected.shape), expected)


def test_bad_settings(small: Path) -> None:
    model = hepinfer.compile(small)
    with pytest.raises(RtlError, match="pipeline=-1"):
        build(model.graph, pipeline=-1)
    with pytest.raises(RtlError, match="clock period"):
        build(model.graph, clock_period=0)


@pytest.mark.parametrize("depth", [1, 2])
def test_convolutions(tmp_path: Path, depth: int) -> None:
    """Conv1D (ReLU, max pooling, Dense) and Conv2D ('same' padding, stride, pooling)."""
    need("verilator")
    from tests.rtl.conv_models import conv1d_net, conv2d_net

    source = conv1d_net() if depth == 1 else conv2d_net(tmp_path / "c.onnx")
    model = hepinfer.compile(source, {"Model": {"Precision": "ap_fixed<12,4>"}})
    shape = model.graph.inputs[0].out.shape
    x = np.random.default_rng(2).normal(scale=1.5, size=(2_000, *shape))
    result = model.rtlsim(x)
    expected = model.predict(x)
    assert isinstance(expected, np.ndarray)
    out = result.outputs[model.graph.outputs[0]]
    np.testing.assert_array_equal(out.reshape(expected.shape), expected)


@pytest.mark.parametrize(
    ("source", "precision", "shared"),
    [
        # exact wrapping accumulators, low-bit weights (all shift-add)
        ("mlp", {"weight": "ap_fixed<6,2>", "accum": "ap_fixed<32,12>"}, True),
        ("mlp", {"default": "ap_fixed<10,4>", "accum": "ap_fixed<32,12,AP_TRN,AP_SAT>"}, True),
        ("mlp", {"default": "ap_fixed<10,4>", "accum": "ap_fixed<15,3,AP_TRN,AP_SAT>"}, False),
        ("conv1d", {"weight": "ap_fixed<6,2>", "accum": "ap_fixed<32,12>"}, True),
    ],
    ids=["wrap", "sat_never_overflows", "sat_may_overflow", "conv1d"],
)
def test_shared_subexpressions(
    tmp_path: Path, source: str, precision: dict[str, str], shared: bool
) -> None:
    """Where the accumulation is exact the layer shares subexpressions across its outputs
    (fewer adders, no more latency) and Verilator still equals the emulator; a saturating
    accumulator that may overflow keeps the per-output chains (the same logic either way).
    """
    need("verilator")
    from hepinfer.netlist.core import MultiplierRule
    from tests.rtl.conv_models import conv1d_net

    path = mlp(tmp_path / "m.onnx", (16, 24, 12, 5), ("Relu", "Relu", ""), seed=4)
    model = hepinfer.compile(
        conv1d_net() if source == "conv1d" else path,
        {"Model": {"Precision": precision}},
    )
    plain = build(model.graph, rule=MultiplierRule(share=False))
    design = build(model.graph, rule=MultiplierRule(share=True))
    if shared:
        assert design.counts["adders"] < plain.counts["adders"]
        assert design.latency <= plain.latency
    else:
        assert design.counts == plain.counts
    shape = model.graph.inputs[0].out.shape
    x = np.random.default_rng(5).normal(scale=2.0, size=(2_000, *shape))
    result = model.rtlsim(x, design=design)
    expected = model.predict(x)
    assert isinstance(expected, np.ndarray)
    out = result.outputs[model.graph.outputs[0]]
    np.testing.assert_array_equal(out.reshape(expected.shape), expected)
    assert result.latency == design.latency


def test_builds_share_verilators_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verilator's run-time objects are compiled once per setting, then copied into every
    model's build: two designs (quick builds) and one optimised build make two run-time
    folders and three simulators, each equal to the emulator.
    """
    need("verilator")
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    x = _inputs(5, 2.0)[:50]
    for i, (sizes, optimize) in enumerate((((5, 3), False), ((5, 4, 2), False), ((5, 2), True))):
        acts = ("Relu",) * (len(sizes) - 2) + ("",)
        model = hepinfer.compile(mlp(tmp_path / f"m{i}.onnx", sizes, acts, seed=i))
        out = model.rtlsim(x, optimize=optimize).outputs[model.graph.outputs[0]]
        np.testing.assert_array_equal(out.reshape(len(x), -1), model.predict(x))
    runtimes = sorted((tmp_path / "cache" / "rtlsim-runtime").iterdir())
    assert len(runtimes) == 2
    for folder in runtimes:
        assert {"verilated.o", "verilated_threads.o"} <= {p.name for p in folder.iterdir()}
    assert len(list((tmp_path / "cache" / "rtlsim").iterdir())) == 3
