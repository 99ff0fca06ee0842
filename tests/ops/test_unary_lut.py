"""UnaryLUT (hls4ml's `unary_lut`, HGQ2's QUnaryFunctionLUT): the table is indexed by the
input's bit pattern (non-negative values first), in the emulator's fixed and float modes and
in C simulation (io_stream with hepinfer's headers, io_parallel with Xilinx's), and it has
an estimate. Against hls4ml 1.3: tests/frontends/test_hgq2_layers.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.ops import unary_lut

CONFIG: dict[str, Any] = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}
I, F = 2, 3  # the input: ap_fixed<1 + I + F, 1 + I>, 64 values


def _fn(v: np.ndarray) -> np.ndarray:
    return np.round(np.tanh(v) * 64) / 64 + v / 8  # not odd: the order of the entries shows


def _graph(table: np.ndarray) -> Graph:
    b = GraphBuilder("lut")
    x = b.input("x", (6,))
    kif = {"k": np.ones(6), "i": np.full(6, I), "f": np.full(6, F)}
    q = b.add("q", Op.FIXED_POINT_QUANTIZER, [x], {"round": "RND", "overflow": "WRAP"}, kif)
    return b.build([b.add("lut", Op.UNARY_LUT, [q], {"index_frac": F}, {"table": table})])


def _table() -> np.ndarray:
    codes = np.arange(2 ** (1 + I + F))
    values = np.where(codes < 2 ** (I + F), codes, codes - 2 ** (1 + I + F)) / 2**F
    return _fn(values)


def _inputs(n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(3)
    every = np.arange(-(2 ** (I + F)), 2 ** (I + F)) / 2**F  # each value of the input type
    x = rng.normal(0.0, 3.0, (n, 6))
    rows = every.size // 6
    x[:rows] = every[: rows * 6].reshape(rows, 6)
    return x


@pytest.fixture(scope="module")
def model() -> hepinfer.CompiledModel:
    return hepinfer.compile(_graph(_table()), CONFIG)


def test_the_table_is_read_by_the_inputs_bits(model: hepinfer.CompiledModel) -> None:
    x = _inputs()
    q = FixedType(1 + I + F, 1 + I, quant=hepinfer.fixed.Quant.RND).cast(x)  # RND, WRAP
    want = _fn(q)
    np.testing.assert_array_equal(np.asarray(model.predict(x)), want)
    np.testing.assert_array_equal(np.asarray(model.predict(x, mode="float")), want)
    assert model.graph.node("lut").out.fixed == FixedType(16, 6)  # the configured result


def test_the_table_type_holds_every_entry() -> None:
    node = _graph(np.array([-1.5, 0.25, 3.0, 0.0])).node("lut")
    assert unary_lut.table_type(node) == FixedType(5, 3)


def test_a_table_that_is_not_a_power_of_two_is_refused() -> None:
    with pytest.raises(GraphError, match="has 3 entries; it needs a power of two"):
        _graph(np.zeros(3))


def test_csim_equals_emulator_and_estimate(
    model: hepinfer.CompiledModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    x = _inputs(100)
    want = np.asarray(model.predict(x))
    cases = [("io_stream", "hepinfer")]
    if find_ap_types_headers() is not None:
        cases.append(("io_parallel", "xilinx"))
    for io_type, headers in cases:
        ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))  # type: ignore[arg-type]
        np.testing.assert_array_equal(ours.reshape(want.shape), want)
    assert "lut" in {layer.name for layer in model.estimate().layers}
