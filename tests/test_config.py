"""Compile configuration: hls4ml-style lookup, YAML round trip, validation, granularity."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepinfer.compiled import config_from_model
from hepinfer.config import AUTO, Config, Strategy
from hepinfer.errors import ConfigError
from hepinfer.fixed import FixedType

T = FixedType.parse

DATA = {
    "Model": {
        "Precision": {"default": "ap_fixed<16,6>", "accum": "ap_fixed<24,12>"},
        "ReuseFactor": 2,
    },
    "IOType": "io_parallel",
    "LayerType": {"Dense": {"Precision": {"weight": "ap_fixed<8,3>"}, "Strategy": "Resource"}},
    "LayerName": {
        "fc1": {"Precision": {"result": "ap_fixed<12,4>"}, "ReuseFactor": 4},
        "fc2": {"Precision": "ap_fixed<10,5>"},
        "sm": {
            "Implementation": "latency",
            "TableSize": 512,
            "Precision": {"table": "ap_fixed<18,8,AP_RND,AP_SAT>"},
        },
    },
}


def test_lookup_order_name_then_type_then_model() -> None:
    c = Config.from_dict(DATA)
    assert c.precision("fc1", "Dense", "result") == T("ap_fixed<12,4>")  # name level
    assert c.precision("fc1", "Dense", "weight") == T("ap_fixed<8,3>")  # type level
    assert c.precision("fc1", "Dense", "accum") == T("ap_fixed<24,12>")  # model variable
    assert c.precision("fc1", "Dense", "bias") == T("ap_fixed<16,6>")  # model default
    assert c.precision("fc2", "Dense", "weight") == T("ap_fixed<10,5>")  # name default beats type
    assert c.precision("other", "ReLU", "result") == T("ap_fixed<16,6>")
    assert c.setting("fc1", "Dense", "reuse_factor") == 4
    assert c.setting("fc3", "Dense", "reuse_factor") == 2
    assert c.setting("fc3", "Dense", "strategy") is Strategy.RESOURCE
    assert c.setting("x", "ReLU", "strategy") is Strategy.LATENCY


def test_tables_and_softmax_accum_do_not_fall_back_to_default() -> None:
    c = Config.from_dict(DATA)
    assert c.precision("relu", "ReLU", "table") is None
    assert c.precision("sm", "Softmax", "table") == T("ap_fixed<18,8,AP_RND,AP_SAT>")
    assert c.precision("sm2", "Softmax", "accum") == T("ap_fixed<24,12>")  # model-level variable
    assert Config.hls4ml().precision("sm2", "Softmax", "accum") is None
    assert Config().precision("sm2", "Softmax", "accum") == "auto"  # hepinfer's default
    assert c.setting("sm", "Softmax", "table_size") == 512


def test_yaml_round_trip(tmp_path: Path) -> None:
    c = Config.from_dict(DATA)
    path = c.save(tmp_path / "c.yml")
    again = Config.load(path)
    assert again.to_dict() == c.to_dict()
    assert again.precision("fc1", "Dense", "result") == T("ap_fixed<12,4>")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"Model": {"Precision": "ap_fixd<16,6>"}},
            r"Model\.Precision: 'ap_fixd<16,6>' is not a fixed-point type",
        ),
        ({"Model": {"ReuseFactor": 0}}, "ReuseFactor 0 must be a positive integer"),
        ({"Model": {"Strategy": "fast"}}, r"'fast' is not one of \['Latency', 'Resource'\]"),
        ({"Modle": {}}, r"unknown top-level configuration key\(s\) \['Modle'\]"),
        (
            {"LayerName": {"a": {"Precision": {"acum": "auto"}}}},
            r"unknown precision variable\(s\) \['acum'\]",
        ),
        ({"LayerName": {"a": {"TableSize": 1000}}}, "TableSize 1000 must be a power of two"),
    ],
)
def test_invalid_configurations(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(data)


def test_bad_yaml(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("Model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Config.load(tmp_path / "c.yml")


def test_config_from_model_granularities(shared_data: Path) -> None:
    path = shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json"
    model = config_from_model(path)
    assert model.layer_name == {}
    assert model.layer_type == {}
    assert model.precision("fc1_relu", "Dense", "weight") == T("ap_fixed<16,6>")
    by_type = config_from_model(path, granularity="type")
    assert set(by_type.layer_type) == {"InputLayer", "Dense", "Activation", "Softmax"}
    by_name = config_from_model(path, granularity="name", default_precision="ap_fixed<18,8>")
    assert by_name.layer_name["fc1_relu"].precision.accum == AUTO
    assert by_name.layer_name["fc1_relu_relu"].precision.result == AUTO
    assert by_name.model.precision.default == T("ap_fixed<18,8>")
    with pytest.raises(ConfigError, match="granularity 'layer'"):
        config_from_model(path, granularity="layer")


def test_default_and_hls4ml_starting_points(tmp_path: Path) -> None:
    default = Config()
    assert default.precision("fc1", "Dense", "weight") == AUTO
    assert default.precision("fc1", "Dense", "accum") == AUTO
    assert default.precision("fc1", "Dense", "result") == T("ap_fixed<16,6,AP_RND,AP_SAT>")
    assert default.fold_batchnorm is True
    again = Config.load(default.save(tmp_path / "default.yml"))
    assert again == default
    hls = Config.hls4ml()
    for var in ("weight", "accum", "result", "bias"):
        assert hls.precision("fc1", "Dense", var) == T("ap_fixed<16,6>")
    assert hls.fold_batchnorm is None
    assert Config.from_dict({}) == hls  # a dict configuration means what it means in hls4ml
    assert Config.from_dict({"FoldBatchNorm": False}).fold_batchnorm is False
    with pytest.raises(ConfigError, match="FoldBatchNorm: 'yes' must be true, false"):
        Config.from_dict({"FoldBatchNorm": "yes"})


def test_wide_default_round_trips(tmp_path: Path) -> None:
    wide = Config.default("ap_fixed<32,16>")
    assert wide.softmax_input == T("ap_fixed<24,8,AP_RND,AP_SAT>")
    assert wide.precision("s", "Sigmoid", "table") == T("ap_fixed<18,2,AP_RND,AP_SAT>")
    assert wide.setting("s", "Sigmoid", "table_size") == 2**14
    assert Config.load(wide.save(tmp_path / "wide.yml")) == wide
    assert Config.default() == Config()
    with pytest.raises(ConfigError, match="SoftmaxInput: 'auto' is not allowed"):
        Config.from_dict({"SoftmaxInput": "auto"})


def test_auto_rule_follows_semantics_unless_set() -> None:
    """`auto` is hls4ml's rule in hls4ml configurations; `Auto: hepinfer` asks for ours."""
    theirs = Config.from_dict({"Model": {"Precision": "ap_fixed<16,6>"}})
    assert theirs.auto_rule == "hls4ml"
    ours = Config.from_dict({"Model": {"Precision": "ap_fixed<16,6>"}, "Auto": "hepinfer"})
    assert ours.auto_rule == "hepinfer"
    assert ours.semantics == "hls4ml"
    assert Config.from_dict(ours.to_dict()).auto_rule == "hepinfer"
    assert Config().auto_rule == "hepinfer"
    with pytest.raises(ConfigError, match="Auto: 'both' must be"):
        Config.from_dict({"Model": {"Precision": "ap_fixed<16,6>"}, "Auto": "both"})


def test_a_bidirectional_layers_halves_take_its_settings() -> None:
    """hls4ml 1.3 configures a Bidirectional as one layer; hepinfer's halves
    `<layer>_forward` / `<layer>_backward` take its LayerName settings, their weight and bias
    types from hls4ml's `forward_weight`, `backward_bias`, ... (`weight` and `bias` do not
    reach them, as in hls4ml); other op types do not.
    """
    config = Config.from_dict(
        {
            "Model": {"Precision": "ap_fixed<16,6>"},
            "LayerName": {
                "bi": {
                    "Precision": {
                        "result": "ap_fixed<13,4>",
                        "weight": "ap_fixed<8,2>",
                        "forward_weight": "ap_fixed<10,2>",
                        "backward_bias": "ap_fixed<9,3>",
                        "forward_recurrent_weight": "ap_fixed<10,2>",
                    },
                    "ReuseFactor": 2,
                }
            },
        }
    )
    fixed = FixedType.parse
    for half in ("bi_forward", "bi_backward"):
        assert config.precision(half, "LSTM", "result") == fixed("ap_fixed<13,4>")
        assert config.setting(half, "LSTM", "reuse_factor") == 2
    assert config.precision("bi_forward", "GRU", "weight") == fixed("ap_fixed<10,2>")
    assert config.precision("bi_forward", "GRU", "bias") == fixed("ap_fixed<16,6>")
    assert config.precision("bi_backward", "GRU", "weight") == fixed("ap_fixed<16,6>")
    assert config.precision("bi_backward", "GRU", "bias") == fixed("ap_fixed<9,3>")
    assert config.precision("bi_forward", "Dense", "result") == fixed("ap_fixed<16,6>")
    # each half's recurrent kernel and bias have types of their own (hls4ml's
    # `<half>_recurrent_weight`, ...), not the half's weight type
    assert config.precision("bi_forward", "LSTM", "recurrent_weight") == fixed("ap_fixed<10,2>")
    assert config.precision("bi_backward", "LSTM", "recurrent_weight") == fixed("ap_fixed<16,6>")
    assert config.precision("bi_backward", "LSTM", "recurrent_bias") == fixed("ap_fixed<16,6>")
    assert not config.notes


def test_recurrent_weight_and_bias_are_variables_of_their_own() -> None:
    """hls4ml's `recurrent_weight` / `recurrent_bias`: looked up like any variable (name,
    type, model; each falls back to `default`, never to `weight` / `bias`); hepinfer's
    default sizes them to their values (`auto`) like the weights.
    """
    config = Config.from_dict(
        {
            "Model": {"Precision": "ap_fixed<16,6>"},
            "LayerType": {"GRU": {"Precision": {"recurrent_bias": "ap_fixed<7,2>"}}},
            "LayerName": {
                "rnn": {
                    "Precision": {"weight": "ap_fixed<8,2>", "recurrent_weight": "ap_fixed<6,1>"}
                }
            },
        }
    )
    fixed = FixedType.parse
    assert config.precision("rnn", "LSTM", "weight") == fixed("ap_fixed<8,2>")
    assert config.precision("rnn", "LSTM", "recurrent_weight") == fixed("ap_fixed<6,1>")
    assert config.precision("rnn", "LSTM", "recurrent_bias") == fixed("ap_fixed<16,6>")
    assert config.precision("other", "GRU", "recurrent_bias") == fixed("ap_fixed<7,2>")
    assert config.precision("other", "GRU", "recurrent_weight") == fixed("ap_fixed<16,6>")
    assert not config.notes
    default = Config().model.precision
    assert default.recurrent_weight == default.recurrent_bias == "auto"
