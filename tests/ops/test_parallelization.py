"""hls4ml's ParallelizationFactor: valid values, the closest-value rule and its warning, the
lookup of the setting, what `apply_config` stores on Conv1D / Conv2D / depthwise nodes, and
the estimate following it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.config import Config
from hepinfer.errors import ConfigError
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.ops import parallelization as pf
from hepinfer.passes.apply_config import apply_config

MODEL = {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _graph() -> Graph:
    """X (6, 6, 1) -> Conv2D 3x3 (16 positions) -> Reshape (16, 2) -> Conv1D 3 (14 positions),
    and a DepthwiseConv1D 2 (13 positions: a prime, so factors 1 and 13 only).
    """
    rng = np.random.default_rng(1)
    b = GraphBuilder("pf")
    x = b.input("x_in", (6, 6, 1))
    c2 = b.add(
        "conv2", Op.CONV2D, [x], {}, {"kernel": rng.normal(size=(3, 3, 1, 2)), "bias": [0.1, -0.2]}
    )
    r = b.add("flat", Op.RESHAPE, [c2], {"shape": (16, 2)})
    c1 = b.add(
        "conv1", Op.CONV1D, [r], {}, {"kernel": rng.normal(size=(3, 2, 3)), "bias": np.zeros(3)}
    )
    d = b.add(
        "dw",
        Op.DEPTHWISE_CONV1D,
        [c1],
        {},
        {"kernel": rng.normal(size=(2, 3, 1)), "bias": np.zeros(3)},
    )
    return b.build([d])


def test_valid_factors_are_the_divisors_of_the_positions() -> None:
    for n in (1, 2, 7, 10, 16, 36, 97):
        assert pf.valid_factors(n) == _divisors(n)
    with pytest.raises(ConfigError, match="0 output positions"):
        pf.valid_factors(0)


def test_closest_takes_the_smaller_on_a_tie() -> None:
    valid = pf.valid_factors(16)  # 1, 2, 4, 8, 16
    assert [pf.closest(valid, c) for c in (0, 3, 5, 6, 7, 12, 13, 40)] == [1, 2, 4, 4, 8, 8, 16, 16]


def test_resolve_warns_with_hls4ml_text(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hepinfer.config"):
        assert pf.resolve("conv", 3, 10) == 2
        assert pf.resolve("conv", 5, 10) == 5
    (record,) = caplog.records  # a valid factor says nothing
    assert record.getMessage().startswith(
        'Invalid ParallelizationFactor=3 in layer "conv".Using ParallelizationFactor=2 instead. '
        "Valid ParallelizationFactor(s): 1,2,5,10."
    )
    assert "divide the layer's 10 output positions" in record.getMessage()
    with pytest.raises(
        ConfigError, match="ParallelizationFactor -1 of layer 'conv' must be a positive"
    ):
        pf.resolve("conv", -1, 10)


def test_config_levels_parse_and_round_trip() -> None:
    data = {
        "Model": {**MODEL, "ParallelizationFactor": 4},
        "LayerType": {"Conv1D": {"parallelization_factor": 7}},
        "LayerName": {"conv2": {"ParallelizationFactor": "8"}},
    }
    cfg = Config.from_dict(data)
    assert cfg.model.parallelization_factor == 4
    assert cfg.layer_type["Conv1D"].parallelization_factor == 7
    assert cfg.layer_name["conv2"].parallelization_factor == 8
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert not cfg.notes  # applied, not "accepted without effect"
    with pytest.raises(ConfigError, match="ParallelizationFactor 0 must be a positive integer"):
        Config.from_dict({"Model": {**MODEL, "ParallelizationFactor": 0}})
    with pytest.raises(ConfigError, match=r"LayerName.conv2.ParallelizationFactor: 'two' is not"):
        Config.from_dict({"LayerName": {"conv2": {"ParallelizationFactor": "two"}}})
    with pytest.raises(ConfigError, match="did you mean 'ParallelizationFactor'"):
        Config.from_dict({"Model": {**MODEL, "ParallelisationFactor": 2}})


def test_lookup_is_hls4mls() -> None:
    """hls4ml 1.3 reads the model level only for a layer with no LayerName / LayerType entry."""
    model = {**MODEL, "ParallelizationFactor": 4}
    cfg = Config.from_dict({"Model": model})
    assert cfg.parallelization_factor("conv2", ("Conv2D",)) == 4
    named = Config.from_dict({"Model": model, "LayerName": {"conv2": {"ReuseFactor": 1}}})
    assert named.parallelization_factor("conv2", ("Conv2D",)) is None
    typed = Config.from_dict(
        {
            "Model": model,
            "LayerType": {"Conv2D": {"ParallelizationFactor": 2}},
            "LayerName": {"conv2": {}},
        }
    )
    assert typed.parallelization_factor("conv2", ("Conv2D",)) == 2  # name entry: type's value
    assert typed.parallelization_factor("conv1", ("Conv1D",)) == 4


def test_apply_config_stores_the_valid_factor(caplog: pytest.LogCaptureFixture) -> None:
    cfg = Config.from_dict(
        {
            "Model": {**MODEL, "ParallelizationFactor": 6},  # 16 positions: 4; 14: 7
            "LayerName": {"dw": {"ParallelizationFactor": 3}},
        }
    )
    with caplog.at_level(logging.WARNING, logger="hepinfer.config"):
        graph = apply_config(_graph(), cfg)
    attrs = {n.name: n.attrs.get("parallelization_factor") for n in graph.nodes}
    assert attrs == {"x_in": None, "conv2": 4, "flat": None, "conv1": 7, "dw": 1}
    assert [pf.partitions(graph.node(n)) for n in ("conv2", "conv1", "dw")] == [
        pf.Partitions(4, 4, 4),
        pf.Partitions(7, 2, 7),
        pf.Partitions(1, 13, 1),
    ]
    assert len(caplog.records) == 3  # 6 is valid for neither convolution, 3 not for dw
    unset = apply_config(_graph(), Config.from_dict({"Model": MODEL}))
    assert pf.partitions(unset.node("conv2")) == pf.Partitions(1, 16, 1)  # hls4ml's default
    bad = unset.node("conv1").replace(attrs={"parallelization_factor": 3})
    with pytest.raises(ConfigError, match="does not divide its 14 output positions"):
        pf.partitions(bad)


def test_estimate_follows_the_depthwise_factor() -> None:
    """hls4ml's DepthwiseConv takes the factor too: all 13 positions at once take one
    initiation interval instead of 13, and more multipliers.
    """
    graph = _graph()

    def layer(factor: int) -> Any:
        cfg = {"Model": MODEL, "LayerName": {"dw": {"ParallelizationFactor": factor}}}
        est = hepinfer.compile(graph, cfg).estimate()
        return next(lay for lay in est.layers if lay.name == "dw")

    one, all_ = layer(1), layer(13)
    assert (one.ii, all_.ii) == (13, 1)
    assert all_.resources.dsp + all_.resources.lut > one.resources.dsp + one.resources.lut
