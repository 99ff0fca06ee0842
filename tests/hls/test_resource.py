"""The Resource strategy as hls4ml builds it, on the jet tagger (KERAS_3layer, 16-64-32-32-5).

The generated project's structure (top DATAFLOW, the reuse loop pipelined inside a function
that is not, one ROM word per iteration) and C simulation against the emulator bit for bit
for reuse factors 2 to 64 (R > n_in included: 32 and 64 exceed the first layer's 16 inputs),
with both header sets and a saturating, rounding accumulator (so the order of the sums
matters).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.hls.writer import render
from hepinfer.ops.reuse import ReuseSchedule

JET = "hls4ml-example-models/keras/KERAS_3layer.json"
DENSE = ("fc1_relu", "fc2_relu", "fc3_relu", "output_softmax")
SHAPES = {
    "fc1_relu": (16, 64),
    "fc2_relu": (64, 32),
    "fc3_relu": (32, 32),
    "output_softmax": (32, 5),
}


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    mp = pytest.MonkeyPatch()
    mp.setenv("HEPINFER_CACHE", str(tmp_path_factory.mktemp("hepinfer-cache")))
    yield
    mp.undo()


def config(rf: int, strategy: str = "Resource") -> dict[str, Any]:
    """ap_fixed<16,6> with a saturating, rounding accumulator at reuse factor `rf`."""
    return {
        "Model": {
            "Precision": {"default": "ap_fixed<16,6>", "accum": "ap_fixed<18,6,AP_RND,AP_SAT>"},
            "ReuseFactor": rf,
            "Strategy": strategy,
        }
    }


def configs(parameters_h: str) -> dict[str, dict[str, str]]:
    """Each layer's config struct constants, by layer name, from parameters.h."""
    out: dict[str, dict[str, str]] = {}
    pattern = r"// (\S+) \((\w+)\)\nstruct config\d+ \{\n(.*?)\n\};"
    for name, _, body in re.findall(pattern, parameters_h, flags=re.DOTALL):
        out[name] = dict(re.findall(r"static const [\w:]+ (\w+) = ([^;]+);", body))
    return out


def function_body(source: str, name: str) -> str:
    """The text of function `name`'s body (from its opening brace to the matching one)."""
    start = source.index("{", re.search(rf"\b{name}\s*\(", source).end())  # type: ignore[union-attr]
    depth = 0
    for pos in range(start, len(source)):
        depth += {"{": 1, "}": -1}.get(source[pos], 0)
        if depth == 0:
            return source[start + 1 : pos]
    msg = f"unbalanced braces in {name}"
    raise AssertionError(msg)


def test_resource_rf16_structure(shared_data: Path) -> None:
    model = hepinfer.compile(shared_data / JET, config(16))
    project = render(model.graph)
    top = function_body(project.text["firmware/myproject.cpp"], "void myproject")
    assert "#pragma HLS DATAFLOW" in top
    assert "PIPELINE" not in top  # a pipelined top would unroll the reuse loops
    kernels = project.text["firmware/hepinfer/hepinfer_dense.h"]
    for variant in ("dense_resource_rf_leq_nin", "dense_resource_rf_gt_nin"):
        body = function_body(kernels, variant)
        head, loop = body.split("Reuse:", 1)
        assert "PIPELINE" not in head  # the function around the reuse loop is not pipelined
        assert loop.lstrip().startswith("for (int r = 0; r < CONFIG_T::n_iter; r++) {")
        assert "#pragma HLS PIPELINE II = 1 rewind" in loop.split("\n")[2]
        assert "ARRAY_RESHAPE variable = weights cyclic factor = CONFIG_T::multiplier_limit" in head
        assert "ALLOCATION operation instances = mul limit = CONFIG_T::multiplier_limit" in head
        assert "weights[r * CONFIG_T::multiplier_limit + " in loop  # word r, a constant lane
    cfg = configs(project.text["firmware/parameters.h"])
    arrays = {a.name: a for a in project.model.arrays}
    for name in DENSE:
        c = cfg[name]
        s = ReuseSchedule(*SHAPES[name], 16)
        assert c["strategy"] == "hepinfer::resource"
        assert int(c["n_iter"]) == s.iterations == 16
        assert int(c["multiplier_limit"]) == s.lanes == SHAPES[name][0] * SHAPES[name][1] // 16
        # ARRAY_RESHAPE cyclic factor = multiplier_limit: n_iter words, one per iteration
        assert int(c["n_weights"]) == int(c["n_iter"]) * int(c["multiplier_limit"])
        assert c["weight_rom"] == "hepinfer::rom_lutram"
        node = model.graph.node(name)
        held = node.precision.weight.to_mantissa(node.weights["kernel"])  # type: ignore[union-attr]
        layer = next(lay for lay in project.model.layers if lay.name == name)
        stored = arrays[layer.arrays[0].name].values
        t = node.precision.weight
        assert t is not None
        np.testing.assert_array_equal(t.to_mantissa(stored), s.layout(held))


def test_latency_keeps_the_pipelined_top(shared_data: Path) -> None:
    project = render(hepinfer.compile(shared_data / JET, config(1, "Latency")).graph)
    top = function_body(project.text["firmware/myproject.cpp"], "void myproject")
    assert "#pragma HLS PIPELINE" in top
    assert "DATAFLOW" not in top
    assert "n_iter" not in project.text["firmware/parameters.h"]


@pytest.mark.parametrize("headers", ["hepinfer", "xilinx"])
@pytest.mark.parametrize("rf", [2, 4, 8, 16, 32, 64])
def test_resource_csim_bit_exact(shared_data: Path, rf: int, headers: str) -> None:
    if headers == "xilinx" and find_ap_types_headers() is None:
        pytest.skip("Xilinx ap_types headers not found (install hls4ml or set XILINX_HLS)")
    model = hepinfer.compile(shared_data / JET, config(rf))
    layers = configs(render(model.graph).text["firmware/parameters.h"])
    assert (int(layers["fc1_relu"]["reuse_factor"]) > 16) == (rf > 16)  # rf_gt_nin covered
    x = np.random.default_rng(rf).normal(size=(3000, 16)) * 1.5
    expected = model.predict(x)
    got = model.csim(x, io_type="io_parallel", headers=headers)
    assert isinstance(expected, np.ndarray)
    assert np.unique(expected, axis=0).shape[0] > 100, "constant outputs: weak test"
    bad = np.flatnonzero((got != expected).any(axis=1))
    assert bad.size == 0, f"RF {rf}: {bad.size} samples differ, first {got[bad[0]]}"
