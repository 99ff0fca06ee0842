"""Constant-matrix-vector multiplication with common subexpressions shared across outputs.

`y_j = sum_i x_i * W[i, j]` for a constant integer matrix `W`: every weight is written in
canonical signed digits (CSD), so each output is a sum of signed, shifted input terms
`±(x_i << k)`. The most frequent two-term pattern `x_a ± (x_b << d)` (normalised for the
shift and sign of its lower term, so `x_0<<3 - x_1<<5` and `-(x_0<<1) + x_1<<3` are the same
pattern `x_0 - (x_1<<2)`) becomes a new variable built by one adder, and every
non-overlapping occurrence in every output is replaced by it; this repeats while a pattern
occurs at least twice (each repetition saves one adder). New variables may be used in later
patterns, up to `max_depth` adder levels, which bounds the depth the sharing adds.

`decompose` is the integer-level algorithm (a `Decomposition`: the shared variables and each
output's terms; `Decomposition.evaluate` checks it against `x @ W`); `build` turns it into
netlist logic: each shared variable once, each output as a delay-aware adder tree that always
adds the two earliest-ready terms first (`Netlist`'s pipeline rule places the registers).
Every wire's width comes from the exact range of the linear combination of inputs it holds.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hepinfer.errors import RtlError
from hepinfer.netlist.core import Netlist, Val, csd, range_bits

#: a term of an output: (variable, left shift, sign +1 or -1)
Term = tuple[int, int, int]
#: a pattern: (lower variable, upper variable, shift of the upper one, relative sign)
Pattern = tuple[int, int, int, int]


@dataclass(frozen=True)
class Decomposition:
    """The shared form of an integer matrix (n_in, n_out).

    Variables `0 .. n_in - 1` are the inputs; variable `n_in + k` is `exprs[k] = (a, b, d, s)`:
    `v_a + s * (v_b << d)`. `outputs[j]` are output `j`'s terms; `y_j = sum s * (v << k)`.
    """

    n_in: int
    exprs: tuple[Pattern, ...]
    outputs: tuple[tuple[Term, ...], ...]

    @property
    def adders(self) -> int:
        """Adders of the shared form: one per variable plus (terms - 1) per nonzero output."""
        return len(self.exprs) + sum(max(len(t) - 1, 0) for t in self.outputs)

    def coefficients(self) -> list[dict[int, int]]:
        """Every variable as a linear combination of the inputs ({input: coefficient})."""
        coefs: list[dict[int, int]] = [{i: 1} for i in range(self.n_in)]
        for a, b, d, s in self.exprs:
            c = dict(coefs[a])
            for i, w in coefs[b].items():
                c[i] = c.get(i, 0) + s * (w << d)
            coefs.append({i: w for i, w in c.items() if w})
        return coefs

    def evaluate(self, x: Sequence[int]) -> list[int]:
        """`x @ W` computed through the shared form (Python integers, exact)."""
        vals = [int(v) for v in x]
        for a, b, d, s in self.exprs:
            vals.append(vals[a] + s * (vals[b] << d))
        return [sum(s * (vals[v] << k) for v, k, s in terms) for terms in self.outputs]


def _pattern(t: Term, u: Term) -> tuple[Pattern, Term]:
    """The normalised pattern of two terms and the term that replaces them."""
    if (t[1], t[0]) > (u[1], u[0]):
        t, u = u, t
    return (t[0], u[0], u[1] - t[1], t[2] * u[2]), (-1, t[1], t[2])


def decompose(
    w: Sequence[Sequence[int]],
    max_depth: int = 3,
    ranges: Sequence[tuple[int, int]] | None = None,
) -> Decomposition:
    """Greedy common-subexpression elimination over the CSD digits of `w` (n_in rows).

    Patterns are counted across all outputs (pairs of terms of one output). Without `ranges`
    the most frequent one is extracted first; with `ranges` (each input's `(lo, hi)`) each
    pattern is weighed by what it saves: its occurrences beyond the first, each an adder as
    wide as the pattern's own (the bits of its exact range above the shift of its upper
    term: those below pass through as wiring). Ties: the shallower, then the first found. A
    pattern is extracted while it occurs at least twice and its variable stays within
    `max_depth` adder levels of the inputs.

    The patterns wait in a heap ordered by (-score, depth, pattern). A pattern is queued when
    its count rises; when it falls, its queued entry (now ranked too high) is re-queued at its
    current score when popped, so the heap holds about a third of the entries of queueing every
    change (the unpruned jet tagger's 64 x 32 layer of 16-bit weights: ~3x faster), and the
    pattern picked at every step is the same.
    """
    n_in = len(w)
    n_out = len(w[0]) if n_in else 0
    outputs: list[set[Term]] = [set() for _ in range(n_out)]
    for i, row in enumerate(w):
        for j, value in enumerate(row):
            for k, d in csd(int(value)):
                outputs[j].add((i, k, d))
    depth = [0] * n_in
    coefs: list[dict[int, int]] = [{i: 1} for i in range(n_in)]
    exprs: list[Pattern] = []
    count: dict[Pattern, int] = defaultdict(int)
    where: dict[Pattern, set[int]] = defaultdict(set)
    widths: dict[Pattern, int] = {}
    #: patterns popped with no non-overlapping occurrence, left out until their count changes
    dropped: set[Pattern] = set()

    def _level(key: Pattern) -> int:
        return max(depth[key[0]], depth[key[1]]) + 1

    def _coef(key: Pattern) -> dict[int, int]:
        a, b, d, s = key
        return _combine(coefs[a], 1, {i: c << d for i, c in coefs[b].items()}, s)

    def _width(key: Pattern) -> int:
        assert ranges is not None
        a, b, d, s = key
        terms: tuple[tuple[int, int], ...]
        if a < n_in and b < n_in:  # two inputs (most patterns): `x_a + s * (x_b << d)`
            terms = ((a, 1 + s * (1 << d)),) if a == b else ((a, 1), (b, s * (1 << d)))
        else:
            terms = tuple(_coef(key).items())
        lo = hi = 0
        for i, c in terms:
            ends = (c * ranges[i][0], c * ranges[i][1])
            lo, hi = lo + min(ends), hi + max(ends)
        full = hi.bit_length() if lo >= 0 else range_bits(lo, hi)
        bits = widths[key] = max(full - key[2], 1)
        return bits

    def score(key: Pattern) -> int:
        if ranges is None:
            return count[key]
        bits = widths.get(key)
        return (count[key] - 1) * (_width(key) if bits is None else bits)

    push = heapq.heappush

    def pairs(j: int, t: Term, sign: int) -> None:
        # the pattern of t with every other term of output j (`_pattern`, inlined: this loop
        # is most of the time). A pattern is queued when its count rises; a fall leaves its
        # queued entry, which ranks it too high, and the pop re-queues it at its score then
        ta, tk, ts = t
        grow = sign > 0
        for u in outputs[j]:
            ua, uk, us = u
            if tk < uk or (tk == uk and ta < ua):
                key = (ta, ua, uk - tk, ts * us)
            elif tk == uk and ta == ua:
                if u == t:
                    continue
                key = (ta, ua, 0, ts * us)
            else:
                key = (ua, ta, tk - uk, ts * us)
            c = count[key] + sign
            count[key] = c
            if grow:
                where[key].add(j)
            if key in dropped:
                dropped.discard(key)
            elif not grow:
                continue
            if c >= 2:
                push(heap, (-score(key), _level(key), key))

    for j in range(n_out):
        terms = sorted(outputs[j])
        for x, t in enumerate(terms):
            for u in terms[x + 1 :]:
                key = _pattern(t, u)[0]
                count[key] += 1
                where[key].add(j)
    heap: list[tuple[int, int, Pattern]] = [
        (-score(k), _level(k), k) for k, c in count.items() if c >= 2
    ]
    heapq.heapify(heap)
    while heap:
        neg, level, key = heapq.heappop(heap)
        if count[key] < 2:
            continue
        now = score(key)
        if now != -neg:
            if now < -neg and key not in dropped:  # fell since queued: queue at its score
                push(heap, (-now, level, key))
            continue
        if level > max_depth:
            continue
        if key[0] == key[1] and key[2] == 0:
            continue
        var = n_in + len(exprs)
        a, b, d, s = key
        exprs.append(key)
        depth.append(level)
        coefs.append(_coef(key))
        used = 0
        for j in sorted(where[key]):
            # non-overlapping occurrences in output j, lowest terms first
            by_term = {(t[0], t[1]): t for t in outputs[j] if t[0] == b}
            for t in sorted((t for t in outputs[j] if t[0] == a), key=lambda t: t[1]):
                if t not in outputs[j]:
                    continue
                other = by_term.get((b, t[1] + d))
                if other is None or other == t or other not in outputs[j] or t[2] * other[2] != s:
                    continue
                pairs(j, t, -1)
                outputs[j].discard(t)
                pairs(j, other, -1)
                outputs[j].discard(other)
                new = (var, t[1], t[2])
                pairs(j, new, +1)
                outputs[j].add(new)
                used += 1
        if used == 0:  # pair counts over-count overlapping occurrences
            exprs.pop()
            depth.pop()
            coefs.pop()
            dropped.add(key)
        elif count[key] >= 2:  # still occurs: queue it at its new score
            push(heap, (-score(key), level, key))
    return Decomposition(
        n_in, tuple(exprs), tuple(tuple(sorted(t, key=lambda t: (t[1], t[0]))) for t in outputs)
    )


# ---------------------------------------------------------------------------- netlist
def _span(coef: dict[int, int], xs: Sequence[Val]) -> tuple[int, int]:
    """The exact range of `sum c_i * x_i` over the inputs' ranges."""
    lo = hi = 0
    for i, c in coef.items():
        ends = (c * xs[i].lo, c * xs[i].hi)
        lo += min(ends)
        hi += max(ends)
    return lo, hi


def _combine(a: dict[int, int], sa: int, b: dict[int, int], sb: int) -> dict[int, int]:
    """`sa * a + sb * b` of two linear combinations."""
    out = {i: sa * c for i, c in a.items()}
    for i, c in b.items():
        out[i] = out.get(i, 0) + sb * c
    return {i: c for i, c in out.items() if c}


@dataclass(frozen=True)
class _Item:
    """A built value `sign * (val << shift)` holding the linear combination `coef` of inputs
    (the value before shift and sign).
    """

    val: Val
    shift: int
    sign: int
    coef: dict[int, int]


def _add(net: Netlist, xs: Sequence[Val], a: _Item, b: _Item, frac: int, prefix: str) -> _Item:
    """`a + b` of two items (a subtraction where their signs differ), the lower shift kept:
    `sign * (a' ± b')` with `a'`, `b'` the values shifted relative to the lower one.
    """
    m = min(a.shift, b.shift)
    ca = {i: c << (a.shift - m) for i, c in a.coef.items()}
    cb = {i: c << (b.shift - m) for i, c in b.coef.items()}
    subtract = a.sign != b.sign
    # the minuend is the lower-shifted operand: the low bits of `b - (a << d)` are b's own
    # (wiring), those of `(a << d) - b` need a borrow chain; the result takes its sign
    if (b.shift, -b.sign) < (a.shift, -a.sign):
        a, b, ca, cb = b, a, cb, ca
    coef = _combine(ca, 1, cb, -1 if subtract else 1)
    lo, hi = _span(coef, xs)
    if lo == hi:
        return _Item(net.const(lo, frac), m, a.sign, coef)
    cost = net.delays.add(range_bits(lo, hi))
    (a2, b2), stage, ready = net.schedule((a.val, b.val), cost)
    net.counts.adders += 1
    out = net.sum_wire(
        a2, b2, subtract, lo, hi, frac, stage, ready + cost, prefix, a.shift - m, b.shift - m
    )
    return _Item(out, m, a.sign, coef)


def build(
    net: Netlist,
    xs: Sequence[Val],
    dec: Decomposition,
    frac: int,
    extra: Sequence[Sequence[tuple[Val, dict[int, int]]]] = (),
    prefix: str = "cm",
) -> list[tuple[Val, int, dict[int, int]] | None]:
    """Each output of `dec` on the inputs `xs` (their mantissas read with scaling `frac`),
    plus the already built values `extra[j]` (each with its linear combination of the inputs,
    e.g. DSP products): `(value, sign, coefficients)` meaning `sign * value` (the value's range
    exact), or None for an output with no terms.
    """
    if len(xs) != dec.n_in:
        msg = f"internal error: {len(xs)} inputs for a {dec.n_in}-row matrix"
        raise RtlError(msg)
    coefs = dec.coefficients()
    vals: list[Val | None] = [Val(x.name, x.lo, x.hi, frac, x.stage, x.delay, x.const) for x in xs]
    vals.extend(None for _ in dec.exprs)

    def var(v: int) -> Val:
        got = vals[v]
        if got is None:
            a, b, d, s = dec.exprs[v - dec.n_in]
            ia = _Item(var(a), 0, 1, coefs[a])
            ib = _Item(var(b), d, s, coefs[b])
            got = _add(net, xs, ia, ib, frac, f"{prefix}_v").val
            vals[v] = got
        return got

    outs: list[tuple[Val, int, dict[int, int]] | None] = []
    for j, terms in enumerate(dec.outputs):
        items = [_Item(var(v), k, s, coefs[v]) for v, k, s in terms]
        if j < len(extra):
            items.extend(_Item(val, 0, 1, coef) for val, coef in extra[j])
        outs.append(tree(net, xs, items, frac, prefix) if items else None)
    return outs


def tree(
    net: Netlist, xs: Sequence[Val], items: Sequence[_Item], frac: int, prefix: str
) -> tuple[Val, int, dict[int, int]]:
    """The sum of `items` as an adder tree adding the two earliest-ready first; returns
    `(value, sign, coefficients)` with `sign * value` the sum.
    """
    heap = [(it.val.stage, it.val.delay, n, it) for n, it in enumerate(items)]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        a = heapq.heappop(heap)[3]
        b = heapq.heappop(heap)[3]
        s = _add(net, xs, a, b, frac, prefix)
        heapq.heappush(heap, (s.val.stage, s.val.delay, tie, s))
        tie += 1
    last = heap[0][3]
    coef = {i: c << last.shift for i, c in last.coef.items()}
    return net.shift_left(last.val, last.shift, f"{prefix}_sh"), last.sign, coef
