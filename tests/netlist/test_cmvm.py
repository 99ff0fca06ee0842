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


def _eager(
    w: list[list[int]], max_depth: int, ranges: list[tuple[int, int]] | None
) -> Decomposition:
    """The greedy rule of `decompose` written plainly: at every step, recount every pattern
    of every output and extract the best (score, then shallower, then smaller pattern) that
    occurs at least twice, is within the depth bound and has a non-overlapping occurrence.
    """
    n_in, n_out = len(w), len(w[0])
    outs = [{(i, k, d) for i in range(n_in) for k, d in csd(int(w[i][j]))} for j in range(n_out)]
    coefs: list[dict[int, int]] = [{i: 1} for i in range(n_in)]
    depth = [0] * n_in
    exprs: list[tuple[int, int, int, int]] = []
    blocked: dict[tuple[int, int, int, int], int] = {}  # no occurrence left at this count
    while True:
        count: dict[tuple[int, int, int, int], int] = {}
        for terms in outs:
            for t in terms:
                for u in terms:
                    lo, hi = sorted((t, u), key=lambda v: (v[1], v[0]))
                    if t < u:
                        key = (lo[0], hi[0], hi[1] - lo[1], lo[2] * hi[2])
                        count[key] = count.get(key, 0) + 1

        def score(key: tuple[int, int, int, int], c: int) -> int:
            if ranges is None:
                return c
            a, b, d, s = key
            coef = dict(coefs[a])
            for i, v in coefs[b].items():
                coef[i] = coef.get(i, 0) + s * (v << d)
            lo = sum(min(v * ranges[i][0], v * ranges[i][1]) for i, v in coef.items())
            hi = sum(max(v * ranges[i][0], v * ranges[i][1]) for i, v in coef.items())
            full = hi.bit_length() if lo >= 0 else max(signed(lo), signed(hi))
            return (c - 1) * max(full - d, 1)

        ranked = sorted(
            (-score(k, c), max(depth[k[0]], depth[k[1]]) + 1, k)
            for k, c in count.items()
            if c >= 2 and blocked.get(k) != c and not (k[0] == k[1] and k[2] == 0)
        )
        ranked = [r for r in ranked if r[1] <= max_depth]
        if not ranked:
            break
        _, level, key = ranked[0]
        a, b, d, s = key
        var, used = n_in + len(exprs), 0
        for terms in outs:
            for t in sorted((t for t in terms if t[0] == a), key=lambda t: t[1]):
                other = next((u for u in terms if u[0] == b and u[1] == t[1] + d), None)
                if t not in terms or other is None or other == t or t[2] * other[2] != s:
                    continue
                terms -= {t, other}
                terms.add((var, t[1], t[2]))
                used += 1
        if used:
            exprs.append(key)
            depth.append(level)
            coef = dict(coefs[a])
            for i, v in coefs[b].items():
                coef[i] = coef.get(i, 0) + s * (v << d)
            coefs.append({i: v for i, v in coef.items() if v})
        else:
            blocked[key] = count[key]
    return Decomposition(
        n_in, tuple(exprs), tuple(tuple(sorted(t, key=lambda t: (t[1], t[0]))) for t in outs)
    )


def signed(value: int) -> int:
    """Bits of the smallest two's complement integer holding `value`."""
    return (value if value >= 0 else ~value).bit_length() + 1


@pytest.mark.parametrize(("seed", "weighed", "depth"), [(0, True, 3), (1, False, 3), (2, True, 1)])
def test_queue_picks_as_the_plain_greedy_rule(seed: int, weighed: bool, depth: int) -> None:
    """The heap that re-queues a pattern only when its count rises (and lazily when it falls)
    extracts the same patterns in the same order as recounting everything at every step.
    """
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, size=(6, 5))
    w[rng.random(w.shape) < 0.2] = 0
    ranges = [(-(1 << 9), (1 << 9) - 1)] * 3 + [(0, 63)] * 3
    got = decompose(w.tolist(), depth, ranges if weighed else None)
    want = _eager(w.tolist(), depth, ranges if weighed else None)
    assert got.exprs == want.exprs
    assert got.outputs == want.outputs
