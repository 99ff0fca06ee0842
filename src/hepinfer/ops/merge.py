"""Element-wise merges (hls4ml's nnet_merge.h): the exact sum/product of two inputs of the
same shape, assigned to `result_t`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ops.base import n_inputs, need


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 2)
    if inputs[0].shape != inputs[1].shape:
        msg = f"{node.op.value} {node.name!r}: input shapes {inputs[0].shape} and {inputs[1].shape} differ"
        raise GraphError(msg)
    return inputs[0].shape


def add_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    a, b = xs
    frac = max(a.t.frac, b.t.frac)
    integer = max(a.t.integer + int(not a.t.signed), b.t.integer + int(not b.t.signed)) + 1
    st = FixedType(integer + frac, integer, True)
    total = (a.m << (frac - a.t.frac)) + (b.m << (frac - b.t.frac))
    tr = need(node, "result")
    return FxArray(tr.cast_mantissa(total, st), tr)


def mul_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    a, b = xs
    tr = need(node, "result")
    return FxArray(tr.cast_mantissa(a.m * b.m, product_type(a.t, b.t)), tr)


def sub_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    """hls4ml's `subtract`: the exact difference, assigned to `result_t`."""
    a, b = xs
    return add_fixed(node, [a, FxArray(-b.m, _negated(b.t))])


def average_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    """hls4ml's `average`: the exact sum times `ap_ufixed<1,0>(0.5)`, assigned to `result_t`."""
    a, b = xs
    frac = max(a.t.frac, b.t.frac)
    integer = max(a.t.integer + int(not a.t.signed), b.t.integer + int(not b.t.signed)) + 1
    total = (a.m << (frac - a.t.frac)) + (b.m << (frac - b.t.frac))
    half = FixedType(integer + frac + 1, integer, True)  # the sum with one more fractional bit
    tr = need(node, "result")
    return FxArray(tr.cast_mantissa(total, half), tr)


def select_fixed(node: Node, xs: Sequence[FxArray], larger: bool) -> FxArray:
    """hls4ml's `maximum` / `minimum`: the larger (smaller) input, each cast to `result_t`."""
    a, b = xs
    frac = max(a.t.frac, b.t.frac)
    am, bm = a.m << (frac - a.t.frac), b.m << (frac - b.t.frac)
    tr = need(node, "result")
    take_a = am > bm if larger else am < bm
    return FxArray(np.where(take_a, tr.cast_mantissa(a.m, a.t), tr.cast_mantissa(b.m, b.t)), tr)


def _negated(t: FixedType) -> FixedType:
    """A signed type holding the negation of every value of `t`."""
    return FixedType(t.width + 1, t.integer + 1, True)
