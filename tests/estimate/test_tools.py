"""Latency rules by HLS tool generation (hepinfer.estimate.tools, issue 20)."""

from __future__ import annotations

import itertools
import warnings

import pytest

from hepinfer.errors import EstimateError
from hepinfer.estimate import (
    DEFAULT_TOOL,
    TOOLS,
    ActivationCost,
    DenseCost,
    Estimate,
    IOType,
    LayerCost,
    estimate_layers,
    tool_rules,
)


def est(layers: list[LayerCost], tool: str, part: str = "xcu250", clock: float = 5.0) -> Estimate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimate_layers(layers, part=part, clock_period=clock, tool=tool)


def mlp(sizes: list[int], io: IOType = IOType.PARALLEL) -> list[LayerCost]:
    layers: list[LayerCost] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(DenseCost(name=f"fc{i}", n_in=n_in, n_out=n_out, io_type=io))
        kind = "softmax" if i == len(sizes) - 2 else "relu"
        layers.append(ActivationCost(name=f"act{i}", kind=kind, n=n_out, io_type=io))
    return layers


def test_unknown_tool_is_named_with_the_choices() -> None:
    with pytest.raises(EstimateError, match=r"tool 'vivado-2016' is unknown.*vitis-2025"):
        estimate_layers(mlp([4, 8, 3]), tool="vivado-2016")


def test_default_is_the_current_vitis_and_every_report_states_its_tool() -> None:
    assert DEFAULT_TOOL == "vitis-2025" == tool_rules().name
    for name in TOOLS:
        e = est(mlp([4, 8, 3]), name)
        assert e.tool == name
        assert f"modelled tool {name}" in e.to_table()
        assert Estimate.from_json(e.to_json()).tool == name
    assert estimate_layers(mlp([4, 8, 3])).tool == DEFAULT_TOOL


def test_tool_generations_order_the_latency_of_a_dense_network() -> None:
    """Issue 20's published reports: Vivado HLS 2019.2/2020.1 schedule the jet tagger in
    fewer cycles than the generic model, Vitis HLS 2025.1 in more (Iris 4-8-8-3: 32).
    """
    jet = mlp([16, 64, 32, 32, 5])
    vivado = est(jet, "vivado-hls-2019").latency_cycles
    vitis24 = est(jet, "vitis-2024").latency_cycles
    vitis25 = est(jet, "vitis-2025").latency_cycles
    assert vivado < vitis24 < vitis25
    iris = est(mlp([4, 8, 8, 3]), "vitis-2025", part="xc7z020").latency_cycles
    assert abs(iris - 32) <= 0.2 * 32
    # resources do not depend on the scheduler's generation
    assert est(jet, "vivado-hls-2019").total.dsp == est(jet, "vitis-2025").total.dsp


def test_vitis_stream_processes_do_not_overlap_with_themselves() -> None:
    """hls4ml's synthesis baselines: Dense(1 -> 64) + sigmoid in io_stream has II 1 in
    Vivado HLS 2020.1 and II = latency = 4 in Vitis HLS 2023.1 and 2024.1 (anchors in
    anchors_published.yaml; here without the weights, one tree level deeper).
    """
    layers = [
        DenseCost(name="d", n_in=1, n_out=64, io_type=IOType.STREAM),
        ActivationCost(name="s", kind="sigmoid", n=64, io_type=IOType.STREAM),
    ]
    vivado = est(layers, "vivado-hls-2020", part="xcvu13p")
    assert vivado.ii == 1
    for tool in ("vitis-2023", "vitis-2024"):
        vitis = est(layers, tool, part="xcvu13p")
        assert vitis.ii == max(lay.latency_cycles for lay in vitis.layers) + 1 > 1
        assert vitis.ii <= vitis.latency_cycles


def test_table_lookups_take_a_registered_address_in_vitis() -> None:
    table = [ActivationCost(name="s", kind="sigmoid", n=64)]
    assert est(table, "vivado-hls-2020").latency_cycles == 2
    assert est(table, "vitis-2024").latency_cycles == 3


def test_rules_are_frozen_and_shared() -> None:
    rules = tool_rules("Vitis-2024")  # names are case-insensitive
    assert rules is TOOLS["vitis-2024"]
    assert tool_rules(rules) is rules
    with pytest.raises(AttributeError):
        rules.table_read_cycles = 1  # type: ignore[misc]


def test_vivado_chains_the_tree_of_a_latency_layer_with_reuse() -> None:
    """Issue 20: Vivado HLS 2019.2 gives the jet tagger at R = 2 in 12 cycles, about its
    R = 1 latency, where the generic rule adds R - 1 + tree + 1 cycles per layer.
    """
    jet = mlp([16, 64, 32, 32, 5])
    shared = [
        DenseCost(name=lay.name, n_in=lay.n_in, n_out=lay.n_out, reuse_factor=2)
        if isinstance(lay, DenseCost)
        else lay
        for lay in jet
    ]
    vivado = est(shared, "vivado-hls-2019")
    generic = est(shared, "vivado-hls-2018")
    assert vivado.ii == generic.ii == 2
    assert vivado.total.dsp == generic.total.dsp
    rf1 = est(jet, "vivado-hls-2019").latency_cycles
    assert rf1 <= vivado.latency_cycles < generic.latency_cycles
    assert vivado.latency_cycles - rf1 <= 4  # one cycle per shared layer
