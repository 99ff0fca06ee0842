"""BitExactSoftmax (HGQ2's QSoftmax as hls4ml 1.3 computes it): hls4ml's accumulator rule,
a softmax over a middle axis (hls4ml's `n_inner`), the latency form (`stable=False`), the C
simulation equal to the emulator in io_parallel and io_stream with both header sets.
Bit-exactness with hls4ml's C simulation and float mode against HGQ2:
`tests/frontends/test_hgq2.py` (its attention model, both forms).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.knobs import IOType
from hepinfer.ops import bit_exact_softmax as bes
from hepinfer.ops.cost import ActivationCost, NodeContext

TYPES: dict[str, Any] = {
    "exp_scale": 0.5773502691896258,
    "norm_t": "ufixed<7,3,RND,SAT>",
    "exp_table_t": "ufixed<7,1,RND_CONV,SAT>",
    "inv_in_t": "fixed<8,3,RND>",
    "inv_table_t": "ufixed<7,1,RND_CONV,SAT>",
}


def _graph(shape: tuple[int, ...], axes: tuple[int, ...], latency: bool = False) -> Graph:
    """A stable softmax over `axes`; with `latency`, after a latency one over the same axes."""
    b = GraphBuilder("bes")
    x = b.input("x", shape)
    if latency:
        lat = {k: v for k, v in TYPES.items() if k != "norm_t"}
        x = b.add(
            "lat", Op.BIT_EXACT_SOFTMAX, [x], {"axes": axes, "implementation": "latency", **lat}
        )
    return b.build([b.add("s", Op.BIT_EXACT_SOFTMAX, [x], {"axes": axes, **TYPES})])


def _latency_only() -> Graph:
    b = GraphBuilder("lat")
    x = b.input("x", (6,))
    lat = {k: v for k, v in TYPES.items() if k != "norm_t"}
    return b.build([b.add("lat", Op.BIT_EXACT_SOFTMAX, [x], {"implementation": "latency", **lat})])


#: the latency form's input type: its 2**8 patterns index the exponential table
NARROW = {"Model": {"Precision": "fixed<8,3,RND,SAT>"}}


def test_accumulator_is_hls4mls_bit_exact_rule() -> None:
    """`register_precision(Softmax)` of hls4ml 1.3: f_exp + 2 ceil(log2 n) fractional bits,
    inv_in_t's integer bits (ceil(log2 n) more when it saturates), TRN, WRAP.
    """
    exp = FixedType.parse("ufixed<8,2,RND_CONV,SAT>")
    wrap = FixedType.parse("fixed<9,3,RND>")
    assert bes.accum_type(wrap, exp, 8) == FixedType.parse("fixed<15,3>")
    sat = FixedType.parse("fixed<9,3,RND,SAT>")
    assert bes.accum_type(sat, exp, 8) == FixedType.parse("fixed<18,6>")
    assert bes.accum_type(sat, exp, 1) == FixedType.parse("fixed<9,3>")


def test_a_middle_axis_is_the_last_axis_transposed() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 2.0, (300, 5, 3))
    middle = hepinfer.compile(_graph((5, 3), (0,)))
    last = hepinfer.compile(_graph((3, 5), (-1,)))
    got = np.asarray(middle.predict(x))
    want = np.asarray(last.predict(x.transpose(0, 2, 1))).transpose(0, 2, 1)
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(got)) > 20
    # one softmax per column: the columns' outputs sum to about 1 (table precision)
    assert abs(float(got.sum(axis=1).mean()) - 1.0) < 0.05


def test_axes_must_be_adjacent() -> None:
    with pytest.raises(GraphError, match=r"axes \[0, 2\] must be adjacent"):
        hepinfer.compile(_graph((2, 3, 4), (0, 2)))


def test_latency_form_indexes_the_exp_table_by_the_input() -> None:
    """hls4ml's softmax_latency against a plain reading of it: `exp(x * scale)` of the input's
    own value (no maximum), in float32, through the table types; the sum wraps in accum_t.
    HGQ2's float form: the same steps on float values.
    """
    lat = hepinfer.compile(_latency_only(), NARROW)
    node = lat.graph.node("lat")
    t = FixedType.parse("fixed<8,3,RND,SAT>")
    tab = bes.types(node, (6,), t)
    assert tab.norm == t
    assert [a.size for a in bes.tables(node, tab)] == [256, 256]

    def q(v: np.ndarray, ft: FixedType) -> np.ndarray:
        return np.asarray(ft.from_mantissa(ft.to_mantissa(v)), dtype=np.float64)

    x = np.random.default_rng(2).normal(0.0, 2.0, (500, 6))
    scale = np.float32(TYPES["exp_scale"])
    e32 = np.exp((q(x, t).astype(np.float32) * scale).astype(np.float64)).astype(np.float32)
    e = q(e32.astype(np.float64), tab.exp)
    span = 2.0**tab.accum.integer
    total = (e.sum(axis=1, keepdims=True) + span / 2) % span - span / 2  # accum_t wraps
    with np.errstate(divide="ignore"):
        inv = q(np.float32(1.0) / q(total, tab.inv_in).astype(np.float32), tab.inv)
    got = np.asarray(lat.predict(x))
    np.testing.assert_array_equal(got, e * inv)
    assert len(np.unique(got)) > 50
    e_float = q(np.exp(x * float(scale)), tab.exp)
    s_float = q(e_float.sum(axis=1, keepdims=True), tab.inv_in)
    want = e_float * q(1.0 / (s_float + bes.EPSILON), tab.inv)
    np.testing.assert_allclose(np.asarray(lat.predict(x, mode="float")), want, rtol=1e-12)


def test_latency_estimate_sizes_the_exp_table_by_the_input() -> None:
    graph = hepinfer.compile(_latency_only(), NARROW).graph
    node = graph.node("lat")
    for width, size in ((6, 256), (11, 2048)):  # the larger of the input's and inv_in_t's
        t = FixedType(width, 3, True)
        ctx = NodeContext((t,), ((6,),), IOType.PARALLEL, t)
        (layer,) = bes.cost(node, ctx)
        assert isinstance(layer, ActivationCost)
        assert layer.table_size == size


def test_an_unknown_implementation_is_refused() -> None:
    b = GraphBuilder("bes")
    x = b.input("x", (4,))
    graph = b.build([b.add("s", Op.BIT_EXACT_SOFTMAX, [x], {"implementation": "legacy", **TYPES})])
    with pytest.raises(
        GraphError, match=r"implementation 'legacy' is not supported; supported: stable, latency"
    ):
        hepinfer.compile(graph)


@pytest.mark.parametrize(("io", "headers"), [("io_parallel", "xilinx"), ("io_stream", "hepinfer")])
def test_csim_equals_emulator(io: str, headers: str) -> None:
    """Two adjacent axes of three (n_outer 2, n_slice 6, n_inner 2), a latency softmax then a
    stable one.
    """
    compiled = hepinfer.compile(_graph((2, 3, 2, 2), (1, 2), latency=True), NARROW)
    x = np.random.default_rng(1).normal(0.0, 3.0, (100, 2, 3, 2, 2))
    expected = np.asarray(compiled.predict(x))
    assert len(np.unique(expected)) > 20
    got = np.asarray(compiled.csim(x, io_type=io, headers=headers))
    np.testing.assert_array_equal(got, expected)
