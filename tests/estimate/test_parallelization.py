"""The estimate follows a convolution's ParallelizationFactor the way the generated code does:
II = the partition loop's trip count written in parameters.h (`n_partitions`) times the II
of its PIPELINE pragma (the reuse factor); the products of one output position instantiated
`n_pixels` (= PF) times; one partition's depth on top of the II; io_stream ignores it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from hepinfer.config import Config
from hepinfer.estimate import LayerEstimate
from hepinfer.estimate.from_graph import estimate_graph
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.hls.writer import render
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.passes.apply_config import apply_config

POSITIONS = 16  # a 6 x 6 input, 3 x 3 kernel, 'valid': 4 x 4 output positions
FACTORS = (1, 2, 4, 8, 16)


def _graph() -> Graph:
    rng = np.random.default_rng(3)
    b = GraphBuilder("pf")
    x = b.input("x_in", (6, 6, 2))
    kernel = rng.normal(0, 0.5, (3, 3, 2, 4))
    conv = b.add("conv", Op.CONV2D, [x], {}, {"kernel": kernel, "bias": rng.normal(size=4)})
    return b.build([conv])


def _config(pf: int, rf: int, io_type: str = "io_parallel") -> Config:
    model = {"Precision": "ap_fixed<16,6>", "ReuseFactor": rf, "Strategy": "Latency"}
    return Config.from_dict({"Model": {**model, "ParallelizationFactor": pf}, "IOType": io_type})


def _conv(pf: int, rf: int, io_type: str = "io_parallel") -> tuple[LayerEstimate, str]:
    config = _config(pf, rf, io_type)
    graph = apply_config(_graph(), config)
    (layer,) = estimate_graph(graph, config).layers
    return layer, render(graph).text["firmware/parameters.h"]


def _written(params: str, key: str) -> int:
    match = re.search(rf"static const int {key} = (\d+);", params)
    assert match is not None, key
    return int(match.group(1))


@pytest.mark.parametrize("rf", [1, 2])
def test_ii_latency_and_multipliers_follow_the_factor(rf: int) -> None:
    layers = {}
    for pf in FACTORS:
        layer, params = _conv(pf, rf)
        n_partitions, n_pixels = _written(params, "n_partitions"), _written(params, "n_pixels")
        assert (n_partitions, n_pixels) == (POSITIONS // pf, pf)
        assert layer.ii == n_partitions * _written(params, "reuse_factor")
        assert layer.details["partitions"] == n_partitions
        layers[pf] = layer
    one, every = layers[1], layers[POSITIONS]
    assert one.ii == POSITIONS * rf  # one output position per II
    assert every.ii == rf  # every position at once
    depth = {lay.latency_cycles - lay.ii for lay in layers.values()}
    assert len(depth) == 1  # latency = II + one partition's depth, whatever the factor
    assert depth.pop() >= 1
    for pf, layer in layers.items():  # the products of one position, PF times
        assert layer.resources.dsp == pf * one.resources.dsp
        assert layer.details["products"] == pf * 3 * 3 * 2 * 4
    assert one.resources.dsp > 0
    luts = [layers[pf].resources.lut for pf in FACTORS]
    assert luts == sorted(luts)
    assert luts[-1] > 8 * luts[0]


def test_stream_ignores_the_factor() -> None:
    """hls4ml's io_stream kernels read one pixel per word whatever the factor."""
    stream = [_conv(pf, 1, "io_stream")[0] for pf in (1, 16)]
    assert stream[0].ii == stream[1].ii == 6 * 6
    assert stream[0].resources == stream[1].resources


def test_model_ii_is_the_slowest_partition_loop() -> None:
    config = _config(4, 3)
    graph = apply_config(_graph(), config)
    est = estimate_graph(graph, config)
    assert est.ii == (POSITIONS // 4) * 3
    assert est.latency_cycles >= est.ii
