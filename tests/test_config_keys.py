"""hls4ml's own configurations are accepted: every key it writes is applied or noted, and a
misspelt layer name or type is an error with a suggestion.

`HLS4ML_NAME` is what hls4ml 1.3's `config_from_keras_model(model, granularity='name')` writes
for the KERAS_3layer jet tagger (abridged to two layers); the oracle test in
tests/emulate/test_hls4ml_configs.py runs hls4ml itself for all three granularities.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.config import Config
from hepinfer.errors import ConfigError
from hepinfer.fixed import FixedType

T = FixedType.parse

HLS4ML_MODEL: dict[str, Any] = {
    "Model": {
        "BramFactor": 1_000_000_000,
        "Precision": {"default": "fixed<16,6>"},
        "ReuseFactor": 1,
        "Strategy": "Latency",
        "TraceOutput": False,
    }
}
HLS4ML_NAME: dict[str, Any] = {
    "LayerName": {
        "fc1_relu": {
            "Precision": {"bias": "auto", "result": "auto", "weight": "auto"},
            "Trace": False,
        },
        "output_softmax_softmax": {"Precision": {"result": "auto"}, "Trace": False},
    },
    **HLS4ML_MODEL,
}


def test_config_from_keras_model_keys_are_accepted(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hepinfer.config"):
        c = Config.from_dict(HLS4ML_NAME)
    assert c.semantics == "hls4ml"
    assert c == Config.from_dict(
        {
            "Model": {"Precision": {"default": "fixed<16,6>"}, "ReuseFactor": 1},
            "LayerName": {
                "fc1_relu": {"Precision": {"bias": "auto", "result": "auto", "weight": "auto"}},
                "output_softmax_softmax": {"Precision": {"result": "auto"}},
            },
        }
    )
    assert any("Model.BramFactor = 1000000000 has no effect" in n for n in c.notes)
    assert any("Model.TraceOutput = False has no effect" in n for n in c.notes)
    assert any("LayerName.fc1_relu.Trace" in n for n in c.notes)
    # hls4ml's defaults lose nothing: logged at INFO, not as warnings
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_non_default_no_effect_keys_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="hepinfer.config"):
        c = Config.from_dict({"Model": {"BramFactor": 100, "Compression": True}})
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert "BramFactor = 100 has no effect in hepinfer" in warned[0]
    assert len(c.notes) == 2


def test_hls4ml_convert_yaml_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text(
        "KerasJson: KERAS_3layer.json\n"
        "KerasH5: KERAS_3layer_weights.h5\n"
        "OutputDir: my-hls-test\n"
        "ProjectName: myproject\n"
        "Part: xcvu9p-flga2104-2L-e\n"
        "ClockPeriod: 4\n"
        "Backend: Vitis\n"
        "IOType: io_stream\n"
        "HLSConfig:\n"
        "  Model:\n"
        "    Precision: ap_fixed<12,4>\n"
        "    ReuseFactor: 2\n"
        "  LayerName:\n"
        "    fc1_relu: {ReuseFactor: 4}\n"
    )
    c = Config.load(tmp_path / "c.yml")
    assert c.part == "xcvu9p-flga2104-2L-e"
    assert c.clock_period == 4.0
    assert c.io_type.value == "io_stream"
    assert c.precision("fc2", "Dense", "weight") == T("ap_fixed<12,4>")
    assert c.setting("fc1_relu", "Dense", "reuse_factor") == 4
    assert c.setting("fc2", "Dense", "reuse_factor") == 2
    assert any("Backend" in n for n in c.notes)


def test_table_keys_are_applied() -> None:
    c = Config.from_dict(
        {
            "LayerName": {
                "sm": {
                    "table_size": 2048,
                    "Precision": {
                        "exp_table": "ap_fixed<20,8,AP_RND,AP_SAT>",
                        "inv_table": "ap_fixed<20,8,AP_RND,AP_SAT>",
                    },
                },
                "sig": {"TableSize": 512, "Precision": {"table": "ap_fixed<12,2>"}},
            }
        }
    )
    assert c.setting("sm", "Softmax", "table_size") == 2048
    assert c.precision("sm", "Softmax", "table") == T("ap_fixed<20,8,AP_RND,AP_SAT>")
    assert c.precision("sig", "Sigmoid", "table") == T("ap_fixed<12,2>")
    assert c.setting("sig", "Sigmoid", "table_size") == 512


def test_table_size_changes_the_softmax(tmp_path: Path) -> None:
    """`table_size` (snake_case, as hls4ml accepts it) reaches the op: a 64-entry exp table
    gives coarser outputs than hls4ml's default 1,024.
    """
    pytest.importorskip("onnx")
    from tests.peers_util import tiny_mlp_onnx

    path = tiny_mlp_onnx(tmp_path / "tiny.onnx")
    base = hepinfer.compile(path, {"Model": {"Precision": "ap_fixed<16,6>"}})
    softmax = next(n.name for n in base.graph.nodes if n.op.value == "Softmax")
    small = hepinfer.compile(
        path,
        {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerName": {softmax: {"table_size": 64}}},
    )
    x = np.random.default_rng(0).standard_normal((500, 16)) * 3
    y_base, y_small = base.predict(x), small.predict(x)
    assert isinstance(y_base, np.ndarray)
    assert isinstance(y_small, np.ndarray)
    assert np.unique(y_small).size < np.unique(y_base).size


def test_conflicting_softmax_tables_are_an_error() -> None:
    with pytest.raises(ConfigError, match=r"exp_table = .* and inv_table = .* differ"):
        Config.from_dict(
            {
                "LayerName": {
                    "sm": {
                        "Precision": {"exp_table": "ap_fixed<18,8>", "inv_table": "ap_fixed<20,8>"}
                    }
                }
            }
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"Model": {"ReuseFacter": 2}}, r"\['ReuseFacter'\] \(did you mean 'ReuseFactor'\?\)"),
        ({"Modle": {}}, r"\['Modle'\] \(did you mean 'Model'\?\)"),
        ({"Model": {"Precision": {"wieght": "auto"}}}, r"did you mean 'weight'"),
    ],
)
def test_misspelt_keys_suggest(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(data)


def test_check_layers_names_and_types() -> None:
    layers = {"fc1": ("Dense", "Dense"), "fc1_relu": ("ReLU", "Activation")}
    with pytest.raises(ConfigError, match=r"LayerName 'fc_1' .*did you mean 'fc1'.*fc1, fc1_relu"):
        Config.from_dict({"LayerName": {"fc_1": {"ReuseFactor": 2}}}).check_layers(layers)
    with pytest.raises(ConfigError, match=r"LayerType 'Dens' .*did you mean 'Dense'"):
        Config.from_dict({"LayerType": {"Dens": {"ReuseFactor": 2}}}).check_layers(layers)
    notes = Config.from_dict({"LayerType": {"Conv2D": {"ReuseFactor": 2}}}).check_layers(layers)
    assert notes == ["LayerType 'Conv2D': this model has no such layer; entry unused"]
    upper = Config.from_dict({"LayerName": {"FC1": {"ReuseFactor": 2}}})
    assert upper.check_layers(layers) == []  # hls4ml matches names case-insensitively
    assert upper.setting("fc1", "Dense", "reuse_factor") == 2


def test_compile_rejects_a_misspelt_layer_name(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from tests.peers_util import tiny_mlp_onnx

    path = tiny_mlp_onnx(tmp_path / "tiny.onnx")
    names = [n.name for n in hepinfer.compile(path).graph.nodes]
    wrong = names[1] + "x"
    with pytest.raises(ConfigError, match=f"did you mean '{names[1]}'"):
        hepinfer.compile(path, {"LayerName": {wrong: {"ReuseFactor": 2}}})


def test_semantics_key_and_round_trip(tmp_path: Path) -> None:
    ours = Config.from_dict({"Semantics": "hepinfer", "Model": {"Precision": "ap_fixed<8,3>"}})
    assert ours == Config.default("ap_fixed<8,3>")
    assert ours.precision("fc1", "Dense", "result") == T("ap_fixed<8,3,AP_RND,AP_SAT>")
    theirs = Config.from_dict({"Model": {"Precision": "ap_fixed<8,3>"}})
    assert theirs == Config.hls4ml("ap_fixed<8,3>")
    assert theirs.precision("fc1", "Dense", "result") == T("ap_fixed<8,3>")
    assert "semantics: hepinfer" in ours.describe()
    assert "semantics: hls4ml" in theirs.describe()
    for c in (ours, theirs):
        saved = c.save(tmp_path / "c.yml")
        assert saved.read_text().startswith(f"Semantics: {c.semantics}\n")
        assert Config.load(saved) == c
    with pytest.raises(ConfigError, match="Semantics: 'hls5ml' must be"):
        Config.from_dict({"Semantics": "hls5ml"})
