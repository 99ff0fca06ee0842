"""The estimate follows the generated code: a Resource Dense layer's II is the trip count of
the reuse loop written in parameters.h times the II of that loop's PIPELINE pragma, its
multipliers the ALLOCATION limit and its weight ROM the binding written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hepinfer
from hepinfer.hls.writer import render
from tests.hls.test_resource import JET, config, configs

REUSE_LOOP = (
    r"Reuse:\n\s*for \(int r = 0; r < CONFIG_T::(\w+); r\+\+\) \{\n"
    r"\s*#pragma HLS PIPELINE II = (\d+)"
)


@pytest.mark.parametrize("rf", [4, 16, 64])
def test_resource_ii_and_latency_come_from_the_written_loop(shared_data: Path, rf: int) -> None:
    model = hepinfer.compile(shared_data / JET, config(rf))
    project = render(model.graph)
    loops = set(re.findall(REUSE_LOOP, project.text["firmware/hepinfer/hepinfer_dense.h"]))
    assert len(loops) == 1, loops  # rf_leq_nin and rf_gt_nin: the same loop header
    ((trip, pipeline_ii),) = loops
    written = {
        name: c
        for name, c in configs(project.text["firmware/parameters.h"]).items()
        if c.get("strategy") == "hepinfer::resource"
    }
    assert len(written) == 4
    est = model.estimate()
    layers = {lay.name: lay for lay in est.layers}
    for name, c in written.items():
        lay = layers[name]
        assert lay.ii == int(c[trip]) * int(pipeline_ii), name
        assert lay.details["iterations"] == int(c[trip])
        # latency: the loop's iterations, then one iteration's depth to drain
        assert lay.ii <= lay.latency_cycles <= lay.ii + 8
        assert lay.details["multipliers"] == int(c["multiplier_limit"])
        assert lay.details["weight_rom"] == c["weight_rom"].removeprefix("hepinfer::rom_")
    assert est.ii == max(int(c[trip]) * int(pipeline_ii) for c in written.values())
    # the top is a DATAFLOW of these processes: one sample's latency is at least their sum
    assert est.latency_cycles >= sum(layers[name].latency_cycles for name in written)
