"""The shared constant-matrix multiplier (`hepinfer.netlist.cmvm`): its decomposition computes
exactly `x @ W`, shares where patterns repeat, and keeps its depth bound.
"""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.netlist import Netlist, Val
from hepinfer.netlist.cmvm import Decomposition, build, decompose
from hepinfer.netlist.core import csd


def _naive_adders(w: np.ndarray) -> int:
    """Adders without sharing: every CSD digit a term, terms - 1 per nonzero column."""
    terms = [sum(len(csd(int(v))) for v in col) for col in w.T]
    return sum(max(t - 1, 0) for t in terms)


def _depths(dec: Decomposition) -> list[int]:
    depth = [0] * dec.n_in
    for a, b, _, _ in dec.exprs:
        depth.append(max(depth[a], depth[b]) + 1)
    return depth


@pytest.mark.parametrize(
    ("shape", "bits", "zeros", "seed"),
    [
        ((16, 64), 6, 0.2, 0),
        ((64, 32), 6, 0.5, 1),
        ((8, 8), 12, 0.0, 2),
        ((5, 3), 3, 0.7, 3),
        ((1, 4), 8, 0.0, 4),
        ((7, 1), 8, 0.0, 5),
    ],
)
def test_shared_form_is_exactly_x_at_w(
    shape: tuple[int, int], bits: int, zeros: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape)
    w[rng.random(shape) < zeros] = 0
    w[:, 0] = 0  # an output with no terms
    ranges = [(-(1 << 15), (1 << 15) - 1)] * (shape[0] // 2) + [(0, 63)] * (
        shape[0] - shape[0] // 2
    )
    dec = decompose(w.tolist(), ranges=ranges if seed % 2 else None)
    x = rng.integers(-(1 << 15), 1 << 15, size=(50, shape[0]))
    for row in x:
        assert dec.evaluate(row.tolist()) == (row @ w).tolist()
    coefs = dec.coefficients()
    for j, terms in enumerate(dec.outputs):  # the terms' linear combinations add up to W
        total = np.zeros(shape[0], dtype=np.int64)
        for v, k, s in terms:
            for i, c in coefs[v].items():
                total[i] += s * (c << k)
        np.testing.assert_array_equal(total, w[:, j])
    assert dec.adders <= _naive_adders(w)


def test_repeated_patterns_are_shared() -> None:
    """Columns built from the same two-input pattern need it once."""
    base = np.array([[3, 5, 0, 7], [-5, 6, 1, 3]])
    w = np.concatenate([base, base * 4, base * -2], axis=1)  # the same sums, shifted and negated
    dec = decompose(w.tolist())
    assert dec.adders < _naive_adders(w) * 2 // 3
    x = [123, -77]
    assert dec.evaluate(x) == (np.array(x) @ w).tolist()


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depth_bound(depth: int) -> None:
    w = np.random.default_rng(7).integers(-32, 32, size=(24, 24))
    dec = decompose(w.tolist(), depth)
    assert max(_depths(dec)) <= depth
    assert dec.evaluate(list(range(24))) == (np.arange(24) @ w).tolist()


def test_no_weights() -> None:
    dec = decompose([[0, 0], [0, 0]])
    assert dec.exprs == ()
    assert dec.outputs == ((), ())
    assert dec.evaluate([5, 6]) == [0, 0]


def test_build_ranges_are_exact() -> None:
    """Every output's range is the exact range of its column's sum over the inputs' ranges,
    and the adders the netlist counts are the decomposition's.
    """
    rng = np.random.default_rng(11)
    w = rng.integers(-20, 20, size=(6, 5))
    net = Netlist(period=5.0)
    xs = [Val(f"x{i}", -8, 7, 0) for i in range(6)]
    dec = decompose(w.tolist())
    outs = build(net, xs, dec, 0)
    for j, got in enumerate(outs):
        assert got is not None
        val, sign, coef = got
        assert coef == {i: int(c) for i, c in enumerate(sign * w[:, j]) if c}
        lo = sum(min(-8 * c, 7 * c) for c in w[:, j])
        hi = sum(max(-8 * c, 7 * c) for c in w[:, j])
        assert sorted((sign * val.lo, sign * val.hi)) == [lo, hi]
    assert net.counts.adders == dec.adders


def test_patterns_are_weighed_by_the_adder_bits_they_save() -> None:
    """Without ranges the most frequent pattern is shared first; with them, a wide pattern
    occurring twice (one 18-bit adder saved) goes before a 2-bit one occurring three times
    (two 2-bit adders saved).
    """
    w = [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 1, 1]]
    narrow, wide = (0, 1), (-(1 << 16), 1 << 16)
    assert decompose(w).exprs[0] == (0, 1, 0, 1)
    weighed = decompose(w, ranges=[narrow, narrow, wide, wide])
    assert weighed.exprs[0] == (2, 3, 0, 1)
    assert weighed.evaluate([1, 0, -5, 7]) == [1, 1, 1, 2, 2]


def test_shifted_operand_low_bits_are_wiring() -> None:
    """`a - (b << 3)`: the low 3 bits are `a`'s; the adder covers only the bits above."""
    net = Netlist(period=5.0)
    a, b = Val("a", -100, 100, 0), Val("b", 0, 63, 0)
    out = net.sum_wire(a, b, True, -100 - 63 * 8, 100, 0, 0, 0.0, "t", 0, 3)
    adder = next(line for line in net.lines if "_s_" in line.split("=")[0])
    n = out.width  # 11 bits signed; the adder computes bits [10:3] one bit wider
    assert adder.startswith(f"(* keep *) wire [{n - 3}:0] ")  # kept: Yosys cannot trim it
    assert out.name in net.lines[-1]
    assert net.lines[-1].endswith("a[2:0]});")
