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
from hepinfer.netlist import Netlist, Val, arith
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


# ---------------------------------------------------------------------------- RTL
def _pairs(xs: Sequence[Sequence[Val]]) -> list[tuple[Val, Val]]:
    return list(zip(xs[0], xs[1], strict=True))


def _aligned(net: Netlist, a: Val, b: Val) -> tuple[Val, Val]:
    frac = max(a.frac, b.frac)
    return net.rescale(a, frac), net.rescale(b, frac)


def add_rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], subtract: bool = False
) -> list[Val]:
    """`add_fixed` / `sub_fixed` as logic: the exact sum (difference), cast to `result_t`."""
    tr = need(node, "result")
    return [
        arith.cast(net, net.add(*_aligned(net, a, b), "m", subtract=subtract), tr)
        for a, b in _pairs(xs)
    ]


def mul_rtl(node: Node, net: Netlist, xs: Sequence[Sequence[Val]]) -> list[Val]:
    """`mul_fixed` as logic: the exact product (a DSP multiplier), cast to `result_t`."""
    tr = need(node, "result")
    return [arith.cast(net, net.mul(a, b), tr) for a, b in _pairs(xs)]


def average_rtl(node: Node, net: Netlist, xs: Sequence[Sequence[Val]]) -> list[Val]:
    """`average_fixed` as logic: the exact sum with one more fractional bit (the half is
    wiring), cast to `result_t`.
    """
    tr = need(node, "result")
    outs = []
    for a, b in _pairs(xs):
        s = net.add(*_aligned(net, a, b), "m")
        outs.append(
            arith.cast(net, Val(s.name, s.lo, s.hi, s.frac + 1, s.stage, s.delay, s.const), tr)
        )
    return outs


def select_rtl(node: Node, net: Netlist, xs: Sequence[Sequence[Val]], larger: bool) -> list[Val]:
    """`select_fixed` as logic: the inputs compared exactly, the chosen one's cast to
    `result_t` (each input cast on its own, as the emulator: a wrapping cast is not monotone).
    """
    tr = need(node, "result")
    outs = []
    for a, b in _pairs(xs):
        a_s, b_s = _aligned(net, a, b)
        ca, cb = arith.cast(net, a, tr), arith.cast(net, b, tr)
        cost = net.delays.compare(max(a_s.width, b_s.width))
        (a2, b2, ca2, cb2), stage, ready = net.schedule((a_s, b_s, ca, cb), cost)
        op = ">" if larger else "<"
        outs.append(
            net.wire(
                f"({a2.ref} {op} {b2.ref}) ? {ca2.ref} : {cb2.ref}",
                min(ca.lo, cb.lo),
                max(ca.hi, cb.hi),
                tr.frac,
                stage,
                ready + cost,
                "mx",
            )
        )
    return outs
