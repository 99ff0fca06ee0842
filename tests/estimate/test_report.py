from __future__ import annotations

import json
from pathlib import Path

import pytest

from hepinfer.errors import EstimateError
from hepinfer.estimate import ActivationCost, DenseCost, Estimate, Strategy, estimate_layers


@pytest.fixture
def estimate() -> Estimate:
    return estimate_layers(
        [
            DenseCost(name="fc1", n_in=16, n_out=64, zero_fraction=0.5),
            ActivationCost(name="relu1", kind="relu", n=64),
            DenseCost(name="out", n_in=64, n_out=5, reuse_factor=4, strategy=Strategy.RESOURCE),
            ActivationCost(name="softmax", kind="softmax", n=5),
        ],
        part="xcu250",
        clock_period=4.0,
    )


def test_table_lists_layers_totals_and_utilisation(estimate: Estimate) -> None:
    table = estimate.to_table()
    for name in ("fc1", "relu1", "out", "softmax", "total", "% of xcu250-figd2104-2L-e"):
        assert name in table
    assert f"{estimate.total.dsp:,}" in table
    assert f"{estimate.latency_ns:g} ns" in table
    assert "II 4" in table


def test_json_round_trip(estimate: Estimate, tmp_path: Path) -> None:
    path = tmp_path / "est.json"
    text = estimate.to_json(path)
    data = json.loads(path.read_text())
    assert data["total"]["dsp"] == estimate.total.dsp
    assert data["latency_ns"] == estimate.latency_ns
    assert data["utilisation_percent"]["dsp"] == pytest.approx(estimate.utilisation["dsp"])
    assert Estimate.from_json(text) == estimate
    assert Estimate.from_json(path) == estimate
    again = Estimate.from_json(text)
    assert [lay.to_dict() for lay in again.layers] == [lay.to_dict() for lay in estimate.layers]


def test_from_dict_rejects_foreign_data() -> None:
    with pytest.raises(EstimateError, match="not in the form"):
        Estimate.from_dict({"layers": []})


def test_plot_writes_a_png(estimate: Estimate, tmp_path: Path) -> None:
    out = estimate.plot(tmp_path / "est.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
