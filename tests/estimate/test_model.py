from __future__ import annotations

import pytest

from hepinfer.errors import EstimateError
from hepinfer.estimate import (
    ActivationCost,
    DenseCost,
    IOType,
    OverUtilisationWarning,
    Strategy,
    Timing,
    estimate_layers,
)
from hepinfer.estimate.model import compose_latency
from hepinfer.estimate.report import LayerEstimate, Resources

GENERIC = "vivado-hls-2018"  # the generic rules these mechanism tests were written for


def test_utilisation_is_relative_to_the_part() -> None:
    layers = [DenseCost(name="d", n_in=16, n_out=8)]  # 128 DSP
    u250 = estimate_layers(layers, part="xcu250")
    ku115 = estimate_layers(layers, part="xcku115")
    assert u250.utilisation["dsp"] == pytest.approx(100 * 128 / 12288)
    assert ku115.utilisation["dsp"] == pytest.approx(100 * 128 / 5520)
    assert u250.fits
    assert u250.part.name == "xcu250-figd2104-2L-e"


def test_designs_over_the_part_warn_and_do_not_fit() -> None:
    layers = [DenseCost(name="d", n_in=16, n_out=64)]  # 1024 DSP
    with pytest.warns(OverUtilisationWarning, match=r"1,024 DSP but xc7z020clg400-1 has 220"):
        e = estimate_layers(layers, part="xc7z020")
    assert not e.fits
    assert e.utilisation["dsp"] > 100
    assert any("DSP" in w for w in e.warnings)


def test_uram_on_a_part_without_uram_warns() -> None:
    layers = [
        DenseCost(
            name="d",
            n_in=64,
            n_out=32,
            strategy=Strategy.RESOURCE,
            reuse_factor=4,
            weight_storage="uram",
        )
    ]
    with pytest.warns(OverUtilisationWarning, match="URAM but xcku115-flvb2104-2-e has none"):
        e = estimate_layers(layers, part="xcku115")
    assert e.utilisation["uram"] == float("inf")
    assert e.to_dict()["utilisation_percent"]["uram"] is None
    assert "NaN" not in e.to_json()
    assert "Infinity" not in e.to_json()


def test_bad_clock_is_rejected() -> None:
    with pytest.raises(EstimateError, match="clock_period"):
        estimate_layers([], clock_period=0)
    with pytest.raises(EstimateError, match="clock_uncertainty"):
        estimate_layers([], clock_uncertainty=1.5)


def test_clock_uncertainty_margin_changes_cycles() -> None:
    layers = [DenseCost(name="d", n_in=64, n_out=32)]
    tight = estimate_layers(layers, clock_period=5.0, clock_uncertainty=0.5, tool=GENERIC)
    loose = estimate_layers(layers, clock_period=5.0, clock_uncertainty=0.0, tool=GENERIC)
    assert tight.latency_cycles > loose.latency_cycles


def test_empty_model() -> None:
    e = estimate_layers([])
    assert e.latency_cycles == 0
    assert e.ii == 1
    assert e.total == Resources()


def _layer(
    comb: float,
    *,
    fixed: int = 0,
    registered: bool = False,
    chain: bool = False,
    io: IOType = IOType.PARALLEL,
    lat: int = 0,
    fill: int = 0,
) -> LayerEstimate:
    return LayerEstimate(
        "x",
        "op",
        Resources(),
        lat,
        1,
        io,
        comb_ns=comb,
        fixed_cycles=fixed,
        registered=registered,
        chainable=chain,
        fill_cycles=fill,
    )


def test_parallel_composition_chains_inlined_logic() -> None:
    # 5 ns clock, 12.5 % margin: 4.375 ns usable per cycle
    two_small = [_layer(2.0, chain=True), _layer(2.0, chain=True)]
    assert compose_latency(two_small, 5.0)[0] == 0  # 4.0 ns: combinational
    three_small = [*two_small, _layer(1.0, chain=True)]
    assert compose_latency(three_small, 5.0)[0] == 1
    registered = [_layer(8.0, registered=True), _layer(0.4, chain=True)]
    assert compose_latency(registered, 5.0)[0] == 2  # 8.4 ns -> two registered cycles
    table = [_layer(3.0, chain=True), _layer(0.0, fixed=2)]
    assert compose_latency(table, 5.0)[0] == 2
    assert compose_latency(table, 5.0, Timing(clock_uncertainty=0.0))[0] == 2


def test_stream_composition_is_bottleneck_plus_fill() -> None:
    layers = [
        _layer(0, io=IOType.STREAM, lat=100, fill=4),
        _layer(0, io=IOType.STREAM, lat=30, fill=3),
        _layer(0, io=IOType.STREAM, lat=5, fill=5),
    ]
    assert compose_latency(layers, 5.0, tool=GENERIC)[0] == 100 + 3 + 5


def test_relu_after_a_dense_layer_is_chained() -> None:
    d = DenseCost(name="d", n_in=1, n_out=8, weights=[1.3, 2.7, 3.1, 4.9, 5.3, 6.7, 7.1, 8.9])
    alone = estimate_layers([d], tool=GENERIC)
    with_relu = estimate_layers([d, ActivationCost(name="r", kind="relu", n=8)], tool=GENERIC)
    assert alone.latency_cycles == with_relu.latency_cycles == 0


def test_warnings_point_at_the_callers_line() -> None:
    with pytest.warns(OverUtilisationWarning) as record:
        estimate_layers([DenseCost(name="d", n_in=16, n_out=64)], part="xc7z020")
    assert record[0].filename == __file__
