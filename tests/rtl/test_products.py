"""Constant products of one input share their multipliers (`hepinfer.netlist.arith.cmul`):
weights with the same odd part are one product, shifted; a three-digit weight reuses a
two-digit product of the same input; the logic still equals the emulator bit for bit.
"""

from __future__ import annotations

import numpy as np

import hepinfer
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.rtl import build
from tests.rtl.conftest import need

#: weight mantissas (10 fractional bits) of one input's row: 5 = 1 + 4 (one adder), 20 and
#: 80 its shifts, 21 = 5 + 16 (one more adder), -3 = 1 - 4 (its own adder), 85 = 1 + 4 + 16
#: + 64 (four digits: a DSP) and 170 its shift
ROW = (5, 20, 21, 80, -3, 85, 170)


def _graph() -> tuple[Graph, dict[str, object]]:
    b = GraphBuilder("products")
    x = b.input("x", (2,))
    kernel = np.array([ROW, ROW], dtype=np.float64) / 1024
    d = b.add("fc", Op.DENSE, [x], weights={"kernel": kernel, "bias": np.zeros(len(ROW))})
    # products quantised to accum_t one by one: the per-product path
    return b.build([d]), {"Model": {"Precision": "ap_fixed<16,6>"}}


def test_products_with_one_odd_part_are_built_once() -> None:
    graph, config = _graph()
    model = hepinfer.compile(graph, config)
    counts = build(model.graph).counts
    # per input: x*5, x*21 (from x*5) and x*(-3) shift-add, x*85 a DSP, the rest shifts
    # (without sharing: 5 shift-add products with 6 adders, and 2 DSPs, per input)
    assert counts["dsp_multipliers"] == 2
    assert counts["shift_add_multipliers"] == 6
    # one adder per shift-add product, one per output (the sum of the two inputs' products)
    assert counts["adders"] == 6 + len(ROW)


def test_shared_products_equal_the_emulator() -> None:
    need("verilator")
    graph, config = _graph()
    model = hepinfer.compile(graph, config)
    x = np.random.default_rng(5).normal(scale=8.0, size=(2_000, 2))
    result = model.rtlsim(x)
    expected = model.predict(x)
    assert isinstance(expected, np.ndarray)
    np.testing.assert_array_equal(result.outputs["fc"].reshape(expected.shape), expected)
    assert result.latency == model.rtl_design().latency
