"""The Verilog casts equal the emulator's on every input value, for every quantisation and
overflow mode (with saturation bits), signed and unsigned, narrowing and widening.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import hepinfer
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.op import Op
from hepinfer.netlist.arith import cast_int, csd, quantise_int
from tests.rtl.conftest import need

OVERFLOWS = [(o, 0) for o in Overflow] + [(Overflow.WRAP, 1), (Overflow.WRAP, 2)]


def _targets() -> list[FixedType]:
    out = []
    for (q, (o, n)), signed in itertools.product(
        itertools.product(Quant, OVERFLOWS), (True, False)
    ):
        # fewer fractional bits (quantisation) and fewer integer bits (overflow) than the input
        out.append(FixedType(6, 2, signed, q, o, n))
    # widening (no quantisation) and a pure shift left into a narrower range
    out += [FixedType(14, 6), FixedType(8, 1, True, Quant.TRN, Overflow.SAT), FixedType(3, 3)]
    return out


@pytest.mark.parametrize("signed", [True, False])
def test_every_mode_equals_the_emulator(signed: bool) -> None:
    need("verilator")
    src = FixedType(10, 4, signed)
    targets = _targets()
    b = GraphBuilder(f"casts_{signed}")
    x = b.input("x", (1,))
    outs = [b.add(f"c{i}", Op.LINEAR, [x]) for i in range(len(targets))]
    graph = b.build(outs)
    layers = {o: {"Precision": {"result": str(t)}} for o, t in zip(outs, targets, strict=True)}
    model = hepinfer.compile(
        graph,
        {"Model": {"Precision": str(src)}, "LayerName": {x: {"Precision": str(src)}, **layers}},
    )
    values = src.from_mantissa(np.arange(src.min_mantissa, src.max_mantissa + 1))[:, None]
    result = model.rtlsim(values)
    expected = model.predict(values)
    assert isinstance(expected, dict)
    for name in outs:
        np.testing.assert_array_equal(result.outputs[name], expected[name], err_msg=name)


def test_python_reference_matches_fixed_casts() -> None:
    """The generator's own constant folding (`cast_int`) equals `FixedType.cast_mantissa`."""
    src = FixedType(9, 3)
    m = np.arange(src.min_mantissa, src.max_mantissa + 1)
    for t in _targets():
        got = [cast_int(int(v), src.frac, t) for v in m]
        assert got == t.cast_mantissa(m, src).tolist(), str(t)
    assert quantise_int(-5, 1, Quant.RND_CONV) == -2


@pytest.mark.parametrize("value", [1, 3, 7, 11, -13, 255, 0x5555, -(1 << 20) + 3])
def test_csd_digits_rebuild_the_value(value: int) -> None:
    digits = csd(value)
    assert sum(d << k for k, d in digits) == value
    # canonical: no two adjacent nonzero digits
    shifts = [k for k, _ in digits]
    assert all(b - a >= 2 for a, b in itertools.pairwise(shifts))


@pytest.mark.parametrize(("relu", "saturate"), [(False, True), (True, True), (True, False)])
def test_casts_after_a_saturation_equal_the_emulator(relu: bool, saturate: bool) -> None:
    """A saturating cast of a saturated value, of a ReLU of one, or of a ReLU alone, is one
    clip of the rounded source (`arith.cast`): every rounding mode, SAT and SAT_SYM, wider and
    narrower limits.
    """
    need("verilator")
    src = FixedType(12, 5)
    first = FixedType(10, 4, True, Quant.RND, Overflow.SAT)
    targets = [
        FixedType(w, i, s, q, o)
        for q in Quant
        for o in (Overflow.SAT, Overflow.SAT_SYM)
        for (w, i, s) in ((6, 1, True), (6, 0, False), (7, 3, True), (12, 6, True))
    ]
    b = GraphBuilder(f"chains_{relu}_{saturate}")
    x = b.input("x", (1,))
    mid = b.add("sat", Op.LINEAR, [x]) if saturate else x
    if relu:
        mid = b.add("relu", Op.RELU, [mid])
    outs = [b.add(f"c{i}", Op.LINEAR, [mid]) for i in range(len(targets))]
    graph = b.build(outs)
    layers = {o: {"Precision": {"result": str(t)}} for o, t in zip(outs, targets, strict=True)}
    model = hepinfer.compile(
        graph,
        {
            "Model": {"Precision": str(first)},
            "LayerName": {x: {"Precision": str(src)}, **layers},
        },
    )
    values = src.from_mantissa(np.arange(src.min_mantissa, src.max_mantissa + 1))[:, None]
    result = model.rtlsim(values)
    expected = model.predict(values)
    assert isinstance(expected, dict)
    for name in outs:
        np.testing.assert_array_equal(result.outputs[name], expected[name], err_msg=name)
