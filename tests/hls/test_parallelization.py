"""ParallelizationFactor in the HLS project: the values hepinfer writes equal hls4ml 1.3's for
the same layer and configuration, the firmware's partition loop computes the emulator's bits,
and the top function is a DATAFLOW exactly when hls4ml makes it one.

hls4ml runs in its peer's python (tests/hls/hls4ml_pf_runner.py, one subprocess writing every
case's project, no compile); the test skips when the peer is absent.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hepinfer.config import Config
from hepinfer.emulate import emulate
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.hls import csim
from hepinfer.hls.writer import render, templates_dir
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.passes.apply_config import apply_config
from tests.emulate.test_hls4ml_oracle import run_script
from tests.ops.keras_oracle import hls4ml_python

RUNNER = Path(__file__).with_name("hls4ml_pf_runner.py")
MODEL = {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}
CONV1D = {"class": "Conv1D", "config": {"filters": 3, "kernel_size": 3, "name": "conv"}}
CONV2D = {"class": "Conv2D", "config": {"filters": 2, "kernel_size": 3, "name": "conv"}}
DW1D = {"class": "DepthwiseConv1D", "config": {"kernel_size": 3, "name": "conv"}}
DW2D = {"class": "DepthwiseConv2D", "config": {"kernel_size": 3, "name": "conv"}}

#: (input shape, layer, HLSConfig): Conv1D of 10 positions, Conv2D of 4 x 4
CASES: list[tuple[tuple[int, ...], dict[str, Any], dict[str, Any]]] = [
    ((12, 2), CONV1D, {"Model": MODEL}),
    ((12, 2), CONV1D, {"Model": {**MODEL, "ParallelizationFactor": 5}}),
    ((12, 2), CONV1D, {"Model": {**MODEL, "ParallelizationFactor": 3}}),  # invalid: 2
    ((6, 6, 1), CONV2D, {"Model": {**MODEL, "ParallelizationFactor": 6}}),  # tie: 4
    ((6, 6, 1), CONV2D, {"Model": {**MODEL, "ReuseFactor": 2, "ParallelizationFactor": 16}}),
    (  # a LayerName entry without the key: hls4ml ignores the model level's factor
        (6, 6, 1),
        CONV2D,
        {"Model": {**MODEL, "ParallelizationFactor": 4}, "LayerName": {"conv": {"ReuseFactor": 1}}},
    ),
    ((6, 6, 1), CONV2D, {"Model": MODEL, "LayerType": {"Conv2D": {"ParallelizationFactor": 8}}}),
    # depthwise (hls4ml's init_depconv1d/2d): the same rule, the same top pragma (its
    # DepthwiseConv classes are Conv1D / Conv2D to its SetPipelineStyle)
    ((12, 2), DW1D, {"Model": {**MODEL, "ParallelizationFactor": 5}}),
    ((6, 6, 2), DW2D, {"Model": {**MODEL, "ParallelizationFactor": 6}}),  # tie: 4
    ((6, 6, 2), DW2D, {"Model": MODEL, "LayerName": {"conv": {"ParallelizationFactor": 16}}}),
]


@pytest.fixture(scope="module")
def theirs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What hls4ml 1.3 writes for each case."""
    python = hls4ml_python()
    work = tmp_path_factory.mktemp("hls4ml_pf")
    cases = [{"input_shape": s, "layer": layer, "hls_config": c} for s, layer, c in CASES]
    spec = {"cases": cases, "out_dir": str(work / "prj"), "result": str(work / "out.json")}
    run_script(python, RUNNER, spec, work)
    result: list[dict[str, Any]] = json.loads((work / "out.json").read_text())
    return result


def _one_conv(shape: tuple[int, ...], layer: dict[str, Any]) -> Graph:
    rng = np.random.default_rng(0)
    b = GraphBuilder("one")
    x = b.input("x_in", shape)
    rank = len(shape) - 1
    k, c = (3,) * rank, shape[-1]
    if layer["class"].startswith("Depthwise"):
        op = Op.DEPTHWISE_CONV1D if rank == 1 else Op.DEPTHWISE_CONV2D
        weights = {"kernel": rng.normal(size=(*k, c, 1)), "bias": np.zeros(c)}
        return b.build([b.add("conv", op, [x], {}, weights)])
    kernel = rng.normal(size=(*k, c, layer["config"]["filters"]))
    op = Op.CONV1D if layer["class"] == "Conv1D" else Op.CONV2D
    conv = b.add("conv", op, [x], {}, {"kernel": kernel, "bias": np.zeros(kernel.shape[-1])})
    return b.build([conv])


def _written(project_text: str, config: str, key: str) -> int:
    block = project_text[project_text.index(f"struct {config} {{") :]
    match = re.search(rf"static const int {key} = (\d+);", block)
    assert match is not None, key
    return int(match.group(1))


def _top_pragma(top: str) -> str:
    match = re.search(r"#pragma HLS (DATAFLOW|PIPELINE)", top)
    assert match is not None
    return match.group(1)


@pytest.mark.oracle
def test_written_schedule_equals_hls4mls(
    theirs: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    assert len(theirs) == len(CASES)
    kernel = (templates_dir() / "kernels" / "hepinfer_conv.h").read_text()
    loops = re.findall(r"Partitions:\n.*?#pragma HLS (PIPELINE[^\n]*)", kernel, re.DOTALL)
    assert len(loops) == 2  # conv_2d_cl and depthwise_conv_2d_cl
    for (shape, layer, hls_config), hls4ml in zip(CASES, theirs, strict=True):
        caplog.clear()
        graph = apply_config(_one_conv(shape, layer), Config.from_dict(hls_config))
        project = render(graph)
        params = project.text["firmware/parameters.h"]
        first = graph.nodes[1]  # the convolution (a separable one's depthwise part)
        ours = {
            "parallelization_factor": first.attrs.get("parallelization_factor", 1),
            "n_partitions": _written(params, "config1", "n_partitions"),
            "n_pixels": _written(params, "config1", "n_pixels"),
            "reuse_factor": _written(params, "config1", "reuse_factor"),
            "top_pragma": _top_pragma(project.text["firmware/myproject.cpp"]),
        }
        want = {k: hls4ml[k] for k in ours}
        if want["parallelization_factor"] is None:  # stored on Conv1D / Conv2D only
            want["parallelization_factor"] = hls4ml["n_pixels"]
        assert ours == want, (hls_config, hls4ml)
        # the same loop pragma (spacing aside), and the same warning for an invalid factor
        for loop in loops:
            assert loop.replace(" ", "") == hls4ml["partition_pragma"].replace(" ", "")
        warned = [r.getMessage() for r in caplog.records if "Parallel" in r.getMessage()]
        # (hls4ml initialises a depthwise layer twice, so prints its warning twice)
        assert [w.split(" (hepinfer")[0] for w in warned] == [
            w.removeprefix("WARNING: ") for w in dict.fromkeys(hls4ml["warnings"])
        ]
    assert {h["top_pragma"] for h in theirs} == {"DATAFLOW", "PIPELINE"}  # both styles covered
    assert any(h["warnings"] for h in theirs)


@pytest.fixture
def no_fast_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Compile the firmware kernels themselves (the C-simulation fast paths skip the partition
    loop): the define is part of the build flags, so of the cache key too.
    """
    module = importlib.import_module("hepinfer.hls.csim")
    monkeypatch.setattr(module, "CXXFLAGS", (*module.CXXFLAGS, "-DHEPINFER_CSIM_NO_FAST_PATH"))
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))


@pytest.mark.slow
@pytest.mark.usefixtures("no_fast_path")
def test_csim_equals_emulator_with_partitions() -> None:
    """Conv2D (16 positions, PF 4: 4 partitions) -> depthwise Conv2D (16 positions, PF 8) ->
    Reshape -> Conv1D (14 positions, PF 7, reuse factor 2) -> depthwise Conv1D (12 positions,
    PF 3) -> separable Conv1D `sep` (10 positions, PF 6 -> 5 in both parts): the firmware's
    partition loops give the emulator's bits.
    """
    rng = np.random.default_rng(5)
    b = GraphBuilder("pf")
    x = b.input("x_in", (6, 6, 1))
    k2 = rng.normal(0, 1, (3, 3, 1, 2))
    c2 = b.add("conv2", Op.CONV2D, [x], {}, {"kernel": k2, "bias": [0.3, -0.4]})
    d2w = {"kernel": rng.normal(0, 0.5, (3, 3, 2, 1)), "bias": [0.1, -0.2]}
    d2 = b.add("dw2", Op.DEPTHWISE_CONV2D, [c2], {"pads": (1, 1, 1, 1)}, d2w)
    r = b.add("flat", Op.RESHAPE, [d2], {"shape": (16, 2)})
    k1 = rng.normal(0, 0.5, (3, 2, 3))
    c1 = b.add("conv1", Op.CONV1D, [r], {}, {"kernel": k1, "bias": [0.1, 0.0, -0.1]})
    d1w = {"kernel": rng.normal(0, 0.5, (3, 3, 1)), "bias": [0.2, 0.0, -0.3]}
    d1 = b.add("dw1", Op.DEPTHWISE_CONV1D, [c1], {}, d1w)
    sep = {"separable": "sep"}
    sdw = {"kernel": rng.normal(0, 0.5, (3, 3, 1)), "bias": np.zeros(3)}
    s1 = b.add("sep_depthwise", Op.DEPTHWISE_CONV1D, [d1], sep, sdw)
    spw = {"kernel": rng.normal(0, 0.5, (1, 3, 2)), "bias": [0.25, -0.25]}
    s2 = b.add("sep_pointwise", Op.CONV1D, [s1], sep, spw)
    config = Config.from_dict(
        {
            "Model": {**MODEL, "ParallelizationFactor": 4},
            "LayerName": {
                "dw2": {"ParallelizationFactor": 8},
                "conv1": {"ReuseFactor": 2, "ParallelizationFactor": 7},
                "dw1": {"ParallelizationFactor": 3},
                "sep": {"ParallelizationFactor": 6},
            },
        }
    )
    graph = apply_config(b.build([s2]), config)
    project = render(graph)
    assert "#pragma HLS DATAFLOW" in project.text["firmware/myproject.cpp"]
    partitions = [layer.consts.get("n_partitions") for layer in project.model.layers]
    assert partitions == ["4", "2", None, "2", "4", "2", "2"]
    xs = rng.uniform(-4, 4, (2000, 6, 6, 1))
    want = emulate(graph, xs, engine="numpy")["sep_pointwise"]
    assert np.unique(want).size > 1000  # not vacuous
    # PF is io_parallel only (in hls4ml too): both header sets (Xilinx's when found)
    for headers in ("hepinfer", "xilinx"):
        if headers == "xilinx" and find_ap_types_headers() is None:
            continue
        ours = csim(graph, xs, headers=headers)["sep_pointwise"]
        assert np.array_equal(ours.reshape(want.shape), want), headers
