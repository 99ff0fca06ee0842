"""BitExactSoftmax (HGQ2's QSoftmax as hls4ml 1.3 computes it): hls4ml's accumulator rule,
a softmax over a middle axis (hls4ml's `n_inner`), the C simulation equal to the emulator in
io_parallel and io_stream. Bit-exactness with hls4ml's C simulation and float mode against
HGQ2: `tests/frontends/test_hgq2.py` (its attention model).
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
from hepinfer.ops import bit_exact_softmax as bes

TYPES: dict[str, Any] = {
    "exp_scale": 0.5773502691896258,
    "norm_t": "ufixed<7,3,RND,SAT>",
    "exp_table_t": "ufixed<7,1,RND_CONV,SAT>",
    "inv_in_t": "fixed<8,3,RND>",
    "inv_table_t": "ufixed<7,1,RND_CONV,SAT>",
}


def _graph(shape: tuple[int, ...], axes: tuple[int, ...]) -> Graph:
    b = GraphBuilder("bes")
    x = b.input("x", shape)
    return b.build([b.add("s", Op.BIT_EXACT_SOFTMAX, [x], {"axes": axes, **TYPES})])


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


@pytest.mark.parametrize("io", ["io_parallel", "io_stream"])
def test_csim_equals_emulator(io: str) -> None:
    """Two adjacent axes of three (n_outer 2, n_slice 6, n_inner 2)."""
    compiled = hepinfer.compile(_graph((2, 3, 2, 2), (1, 2)))
    x = np.random.default_rng(1).normal(0.0, 3.0, (100, 2, 3, 2, 2))
    expected = np.asarray(compiled.predict(x))
    np.testing.assert_array_equal(np.asarray(compiled.csim(x, io_type=io)), expected)
