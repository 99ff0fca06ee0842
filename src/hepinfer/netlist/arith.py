"""Exact fixed-point arithmetic as Verilog: casts in every `ap_fixed` mode, constant products.

A cast is quantisation (dropping fractional bits with the target's rounding mode, computed on
the exact value) followed by overflow handling of the rounded value (wrap, wrap with N
saturation bits, saturate, saturate to zero, symmetric saturation): the semantics of
`hepinfer.fixed.cast` (and Xilinx's `ap_fixed` assignment), bit for bit. Everything is bit
slicing, comparisons with constants and one incrementer; there is no division.

Constant products `x * w` are built one of two ways, by this rule:

- shift-and-add over the canonical signed digits (CSD) of `w` when that takes at most
  `max_adders` adders (each adder costs about one LUT per bit; zero weights cost nothing,
  powers of two are wiring);
- otherwise a multiplier that synthesis maps to a DSP slice (`x * w` in Verilog).
"""

from __future__ import annotations

from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.netlist.core import Netlist, Val, csd, literal, range_bits


# ---------------------------------------------------------------------------- python reference
def quantise_int(m: int, sh: int, quant: Quant) -> int:
    """`m / 2**sh` rounded with `quant` (sh >= 1), exactly as `hepinfer.fixed.cast`."""
    f = m >> sh
    rem = m - (f << sh)
    half = 1 << (sh - 1)
    if quant is Quant.TRN:
        return f
    if quant is Quant.TRN_ZERO:
        return f + int(rem != 0 and m < 0)
    inc = rem > half
    tie = rem == half
    if quant is Quant.RND:
        inc = rem >= half
    elif quant is Quant.RND_ZERO:
        inc = inc or (tie and m < 0)
    elif quant is Quant.RND_INF:
        inc = inc or (tie and m >= 0)
    elif quant is Quant.RND_CONV:
        inc = inc or (tie and bool(f & 1))
    return f + int(inc)


def overflow_int(q: int, t: FixedType) -> int:
    """The rounded mantissa `q` after `t`'s overflow handling."""
    lo, hi, w = t.min_mantissa, t.max_mantissa, t.width
    if symmetric(t) and q <= lo:
        return -hi
    if lo <= q <= hi:
        return q
    mode = t.overflow
    if mode in (Overflow.SAT, Overflow.SAT_SYM):
        return hi if q > hi else lo
    if mode is Overflow.SAT_ZERO:
        return 0
    wrapped = q & ((1 << w) - 1)
    n = t.sat_bits
    if n:
        low = wrapped & ((1 << (w - n)) - 1)
        unsigned_top = (1 << n) - 1  # unsigned: the N top bits become ones
        signed_top = ((1 << (n - 1)) - 1) if q > hi else (1 << (n - 1))
        top = signed_top if t.signed else unsigned_top
        wrapped = low | (top << (w - n))
    if t.signed and wrapped >> (w - 1):
        wrapped -= 1 << w
    return wrapped


def cast_int(m: int, frac: int, t: FixedType) -> int:
    """The mantissa `m` (scaled by 2**-frac) assigned to `t`."""
    sh = frac - t.frac
    q = quantise_int(m, sh, t.quant) if sh > 0 else m << -sh
    return overflow_int(q, t)


def symmetric(t: FixedType) -> bool:
    """AP_SAT_SYM on a signed type of 2 bits or more (the minimum becomes -maximum)."""
    return t.overflow is Overflow.SAT_SYM and t.signed and t.width > 1


# ---------------------------------------------------------------------------- casts
def greater(name: str, width: int, c: int) -> str:
    """`name > c` for a signed `width`-bit value: a sign/overflow-bit test where `c + 1` is 0
    or a power of two (no comparator), else a comparison with the constant.
    """
    k = (c + 1).bit_length() - 1
    if c == -1:
        return f"~{name}[{width - 1}]"
    if c >= 0 and c + 1 == 1 << k and 0 < k < width - 1:
        return f"(~{name}[{width - 1}] & (|{name}[{width - 2}:{k}]))"
    return f"({name} > {literal(c)})"


def less(name: str, width: int, c: int) -> str:
    """`name < c` for a signed `width`-bit value: a sign/overflow-bit test where `c` is 0 or
    minus a power of two (no comparator), else a comparison with the constant.
    """
    k = (-c).bit_length() - 1
    if c == 0:
        return f"{name}[{width - 1}]"
    if c < 0 and -c == 1 << k and k < width - 1:
        return f"({name}[{width - 1}] & ~(&{name}[{width - 2}:{k}]))"
    return f"({name} < {literal(c)})"


def low_bits(v: Val, width: int) -> str:
    """The low `width` bits of `v` as an unsigned Verilog vector (sign-extended if narrower)."""
    w = v.width
    if w >= width:
        return f"{v.name}[{width - 1}:0]"
    return f"{{{{{width - w}{{{v.name}[{w - 1}]}}}}, {v.name}}}"


def quantise(n: Netlist, v: Val, frac: int, quant: Quant) -> Val:
    """`v` with `frac` fractional bits, rounded with `quant` (exact, no overflow handling)."""
    sh = v.frac - frac
    if sh <= 0:
        return n.rescale(v, frac)
    lo, hi = quantise_int(v.lo, sh, quant), quantise_int(v.hi, sh, quant)
    if v.const is not None:
        return n.const(quantise_int(v.const, sh, quant), frac)
    if quant is Quant.TRN:
        return n.wire(f"{v.name} >>> {sh}", lo, hi, frac, v.stage, v.delay, "q")
    x = v
    if x.width < sh + 1:  # the sign and the bit above the dropped ones must exist
        x = n.wire(v.name, min(v.lo, -(1 << sh)), v.hi, v.frac, v.stage, v.delay, "x")
    w = x.width
    rest = f"(|{x.name}[{sh - 2}:0])" if sh >= 2 else "1'b0"
    half = f"{x.name}[{sh - 1}]"
    above = f"({half} & {rest})"  # dropped part > half
    tie = f"({half} & ~{rest})"
    neg = f"{x.name}[{w - 1}]"
    inc = {
        Quant.RND: half,
        Quant.RND_MIN_INF: above,
        Quant.RND_ZERO: f"({above} | ({tie} & {neg}))",
        Quant.RND_INF: f"({above} | ({tie} & ~{neg}))",
        Quant.RND_CONV: f"({above} | ({tie} & {x.name}[{sh}]))",
        Quant.TRN_ZERO: f"({neg} & (|{x.name}[{sh - 1}:0]))",
    }[quant]
    width = range_bits(lo, hi)
    (x2,), stage, ready = n.schedule((x,), n.delays.add(width))
    # the increment as a signed 0/1 (Verilator 5.006 folds `$signed({1'b0, bit})` inside
    # an addition into a 1-bit signed value, -1)
    inc = inc.replace(x.name, x2.name)
    n.counts.adders += 1
    return n.wire(
        f"({x2.name} >>> {sh}) + ({inc} ? 2'sd1 : 2'sd0)",
        lo,
        hi,
        frac,
        stage,
        ready + n.delays.add(width),
        "q",
    )


def overflow(n: Netlist, q: Val, t: FixedType) -> Val:
    """The rounded value `q` (scaled like `t`) assigned to `t`: `t`'s overflow mode."""
    lo, hi = t.min_mantissa, t.max_mantissa
    safe_lo = lo + 1 if symmetric(t) else lo
    if safe_lo <= q.lo and q.hi <= hi:
        return q
    if q.const is not None:
        return n.const(overflow_int(q.const, t), q.frac)
    mode = t.overflow
    width = t.width
    if mode is Overflow.WRAP and t.sat_bits == 0:
        bits = low_bits(q, width)
        expr = f"$signed({bits})" if t.signed else f"$signed({{1'b0, {bits}}})"
        return n.wire(expr, lo, hi, t.frac, q.stage, q.delay, "w")
    (q2,), stage, ready = n.schedule((q,), n.delays.compare(q.width))
    name = q2.name
    over, under = greater(name, q.width, hi), less(name, q.width, safe_lo)
    if mode in (Overflow.SAT, Overflow.SAT_SYM):
        low_limit = -hi if symmetric(t) else lo
        expr = name
        if q.lo < safe_lo:
            expr = f"{under} ? {literal(low_limit)} : {expr}"
        if q.hi > hi:
            expr = f"{over} ? {literal(hi)} : {expr}"
        out_lo, out_hi = max(q.lo, low_limit), min(q.hi, hi)
        out = n.wire(expr, out_lo, out_hi, t.frac, stage, ready + n.delays.compare(q.width), "c")
        if out.const is None:
            n.clips[out.name] = (q, low_limit, hi)
        return out
    if mode is Overflow.SAT_ZERO:
        expr = f"({over} | {under}) ? {literal(0)} : {name}"
        out_lo, out_hi = max(min(q.lo, 0), lo), min(max(q.hi, 0), hi)
    else:  # AP_WRAP with N saturation bits: on overflow the N top bits saturate
        nb = t.sat_bits
        keep = [low_bits(q2, width - nb)] if width > nb else []

        def concat(parts: list[str]) -> str:
            return f"$signed({{{', '.join(parts)}}})"

        zero, one = "1'b0", "1'b1"
        if t.signed:
            ones = [f"{{{nb - 1}{{1'b1}}}}"] if nb > 1 else []
            zeros = [f"{{{nb - 1}{{1'b0}}}}"] if nb > 1 else []
            expr = (
                f"{over} ? {concat([zero, *ones, *keep])} : "
                f"{under} ? {concat([one, *zeros, *keep])} : $signed({low_bits(q2, width)})"
            )
        else:
            sat = concat([zero, f"{{{nb}{{1'b1}}}}", *keep])
            expr = f"({over} | {under}) ? {sat} : {concat([zero, low_bits(q2, width)])}"
        out_lo, out_hi = lo, hi
    return n.wire(expr, out_lo, out_hi, t.frac, stage, ready + n.delays.compare(q.width), "c")


def cast(n: Netlist, v: Val, t: FixedType) -> Val:
    """`v` assigned to a variable of type `t` (quantisation, then overflow).

    When `v` is itself a saturation `min(max(q, lo), hi)` and `t` saturates, the limits are
    first narrowed to where `t`'s saturation takes over (rounding is monotone, so a value
    beyond them gives `t`'s limit either way), and the narrower clip is built from `q`.
    """
    through = _round_then_clip(n, v, t)
    if through is not None:
        return through
    return overflow(n, quantise(n, _narrow(n, v, t), t.frac, t.quant), t)


def _round_then_clip(n: Netlist, v: Val, t: FixedType) -> Val | None:
    """`v = min(max(q, lo), hi)` cast to a saturating `t`, built as one clip of the rounded
    `q`, or None where `v` is no such clip or `t` wraps.

    Rounding is monotone, so `round(clip(q, lo, hi)) = clip(round(q), round(lo), round(hi))`,
    and saturating a clipped value is one clip to the intersected limits: the comparisons run
    on the narrow rounded value (a ReLU and a saturating cast are one multiplexer level
    after the rounding), not on the wide sum.
    """
    hit = clip_of(n, v)
    if hit is None or t.overflow not in (Overflow.SAT, Overflow.SAT_SYM):
        return None
    q, lo, hi = hit
    sh = v.frac - t.frac
    if sh < 0:
        return None

    def rounded(m: int) -> int:
        return quantise_int(m, sh, t.quant) if sh > 0 else m

    top = t.max_mantissa
    bottom = -top if symmetric(t) else t.min_mantissa
    new_lo, new_hi = max(rounded(lo), bottom), min(rounded(hi), top)
    if new_lo > new_hi:
        return None
    return clip(n, quantise(n, q, t.frac, t.quant), new_lo, new_hi)


def _narrow(n: Netlist, v: Val, t: FixedType) -> Val:
    """`v`, or a narrower clip of the value it saturates (see `cast`)."""
    hit = clip_of(n, v)
    if hit is None or t.overflow not in (Overflow.SAT, Overflow.SAT_SYM):
        return v
    q, lo, hi = hit
    sh = v.frac - t.frac

    def rounded(m: int) -> int:
        return quantise_int(m, sh, t.quant) if sh > 0 else m << -sh

    top = t.max_mantissa
    bottom = -top if symmetric(t) else t.min_mantissa
    new_hi, new_lo = hi, lo
    if rounded(hi) >= top:  # the smallest value that rounds to >= top
        a, b = lo, hi
        while a < b:
            mid = (a + b) // 2
            a, b = (a, mid) if rounded(mid) >= top else (mid + 1, b)
        new_hi = a
    if rounded(lo) <= bottom:  # the largest value that rounds to <= bottom
        a, b = lo, hi
        while a < b:
            mid = (a + b + 1) // 2
            a, b = (mid, b) if rounded(mid) <= bottom else (a, mid - 1)
        new_lo = a
    if new_lo > new_hi:
        return v
    # any limit between the narrowed one and the old one gives the same result: take the
    # one tested by sign/overflow bits (2**k - 1 above; 0 or -2**k below), no comparator
    new_hi = min(hi, (1 << new_hi.bit_length()) - 1) if new_hi >= 0 else new_hi
    new_lo = max(lo, 0) if new_lo >= 0 else max(lo, -(1 << (-new_lo - 1).bit_length()))
    if (new_lo, new_hi) == (lo, hi):
        return v
    return clip(n, q, new_lo, new_hi)


def clip_of(n: Netlist, v: Val) -> tuple[Val, int, int] | None:
    """`(q, lo, hi)` where the wire of `v` is `min(max(q, lo), hi)` (mantissas), `q` read with
    `v`'s scaling (a wire may be read with another scaling, e.g. as a product by 1), or None.
    """
    hit = n.clips.get(v.name) if v.const is None else None
    if hit is None:
        return None
    q, lo, hi = hit
    return Val(q.name, q.lo, q.hi, v.frac, q.stage, q.delay, q.const), lo, hi


def fits(v: Val, t: FixedType) -> bool:
    """True when every value of `v` is exactly representable in `t` (the cast is wiring)."""
    if v.frac > t.frac:
        return False
    k = t.frac - v.frac
    safe_lo = t.min_mantissa + 1 if symmetric(t) else t.min_mantissa
    return safe_lo <= v.lo << k and v.hi << k <= t.max_mantissa


# ---------------------------------------------------------------------------- products
def cmul(n: Netlist, x: Val, weight: int, wfrac: int) -> Val:
    """The exact product `x * weight` scaled by 2**-(x.frac + wfrac).

    `x * weight` is `(x * odd) << k` with `odd` the weight's odd part: the products of one
    input by weights with the same odd part (`w` and `4 w`, or `-w` where that costs no
    adder) are one multiplier, shifted (`_odd_product`).
    """
    frac = x.frac + wfrac
    if weight == 0:
        return n.const(0, frac)
    if x.const is not None:
        return n.const(x.const * weight, frac)
    ends = (x.lo * weight, x.hi * weight)
    lo, hi = min(ends), max(ends)
    k = (weight & -weight).bit_length() - 1
    base = _odd_product(n, Val(x.name, x.lo, x.hi, frac, x.stage, x.delay), weight >> k)
    out = n.shift_left(base, k)
    # the CSD terms' ranges over-approximate; the exact product range is tighter
    return Val(out.name, lo, hi, frac, out.stage, out.delay, out.const)


def _odd_product(n: Netlist, x: Val, c: int) -> Val:
    """`x * c` for an odd constant `c`, built once per input wire and constant (`n.products`).

    A DSP multiplier where `Netlist.rule` says so; otherwise shifts and adds over the
    canonical signed digits of `c`: two digits are one adder, and of three digits two are
    taken from an already built product of this input where one exists (`x * 5` shares its
    `x + (x << 2)` with `x * 21`), else the lowest two, built (and kept) as their own product.
    """
    if c == 1:
        return x
    key = (x.name, c)
    ends = (x.lo * c, x.hi * c)
    lo, hi = min(ends), max(ends)
    hit = n.products.get(key)
    if hit is not None:
        return Val(hit.name, lo, hi, x.frac, hit.stage, hit.delay, hit.const)
    digits = csd(c)
    if n.rule.use_dsp(x.width, c):
        n.counts.dsp_multipliers += 1
        (x2,), stage, ready = n.schedule((x,), n.delays.dsp)
        out = n.wire(f"{x2.name} * {literal(c)}", lo, hi, x.frac, stage, ready + n.delays.dsp, "p")
    elif len(digits) == 1:  # c == -1
        out = n.add(n.const(0, x.frac), x, "p", subtract=True)
    elif len(digits) == 2 and digits[0][1] < 0 and digits[1][1] < 0:
        out = n.add(n.const(0, x.frac), _odd_product(n, x, -c), "p", subtract=True)
    elif len(digits) == 2:
        (k0, d0), (k1, d1) = digits  # k0 == 0: c is odd
        if d0 > 0:
            out = n.add_shifted(x, k0, x, k1, d1 < 0, "p")
        else:
            out = n.add_shifted(x, k1, x, k0, True, "p")
        n.counts.shift_add_multipliers += 1
    elif len(digits) == 3:
        out = _three_digits(n, x, digits)
        n.counts.shift_add_multipliers += 1
    else:
        scaled = [n.shift_left(x, k) for k, _ in digits]
        plus = [v for v, (_, d) in zip(scaled, digits, strict=True) if d > 0]
        minus = [v for v, (_, d) in zip(scaled, digits, strict=True) if d < 0]
        n.counts.shift_add_multipliers += 1
        if not plus:
            out = n.add(n.const(0, x.frac), n.total(minus, "p"), "p", subtract=True)
        else:
            out = n.add(n.total(plus, "p"), n.total(minus, "p"), "p", subtract=True)
    out = Val(out.name, lo, hi, x.frac, out.stage, out.delay, out.const)
    if out.const is None:
        n.products[key] = out
    return out


def _three_digits(n: Netlist, x: Val, digits: list[tuple[int, int]]) -> Val:
    """`x * c` for `c` of three signed digits: a two-digit product of `x` and the third digit,
    reusing a two-digit product already built where one fits (see `_odd_product`).

    Each split is `c = (s << t) + d * 2**k` (`s` odd); it is built as `(x*s << t) ± (x << k)`,
    or as `(x << k) - (x*(-s) << t)` where `x*(-s)` exists and `d` is +1.
    """
    splits = []
    for i, j in ((0, 1), (1, 2), (0, 2)):
        (ka, da), (kb, db) = digits[i], digits[j]
        k, d = digits[3 - i - j]
        both = da * (1 << ka) + db * (1 << kb)
        t = (both & -both).bit_length() - 1
        splits.append((both >> t, t, k, d))
    # (odd factor, its shift, the third digit's shift, its sign, negated)
    plans = [(s, t, k, d, False) for s, t, k, d in splits if (x.name, s) in n.products]
    plans += [(-s, t, k, d, True) for s, t, k, d in splits if d > 0 and (x.name, -s) in n.products]
    if not plans:
        s, t, k, d = splits[0]
        plans = [(-s, t, k, d, True) if s < 0 and d > 0 else (s, t, k, d, False)]
    s, t, k, d, negated = plans[0]
    part = _odd_product(n, x, s)
    if negated:  # x * c = (x << k) - (x * s << t)
        return n.add_shifted(x, k, part, t, True, "p")
    return n.add_shifted(part, t, x, k, d < 0, "p")


def relu(n: Netlist, v: Val) -> Val:
    """`max(v, 0)`: the sign bit gates the value (one LUT level)."""
    if v.lo >= 0:
        return v
    if v.const is not None or v.hi <= 0:
        return n.const(max(v.const or 0, 0), v.frac)
    hit = clip_of(n, v)
    if hit is not None:  # max(min(max(q, lo), hi), 0): one clip of q
        return clip(n, hit[0], 0, hit[2])
    (x,), stage, ready = n.schedule((v,), n.delays.lut)
    out = n.wire(
        f"{x.name}[{v.width - 1}] ? {literal(0)} : {x.name}",
        0,
        v.hi,
        v.frac,
        stage,
        ready + n.delays.lut,
        "r",
    )
    n.clips[out.name] = (v, 0, v.hi)  # a saturating cast of it clips the rounded `v`
    return out


def clip(n: Netlist, v: Val, lo: int, hi: int) -> Val:
    """`v` limited to `[lo, hi]` (comparisons with constants only where it can leave them)."""
    if lo <= v.lo and v.hi <= hi:
        return v
    if v.const is not None:
        return n.const(min(max(v.const, lo), hi), v.frac)
    (x,), stage, ready = n.schedule((v,), n.delays.compare(v.width))
    expr = x.name
    if v.lo < lo:
        expr = f"{less(x.name, v.width, lo)} ? {literal(lo)} : {expr}"
    if v.hi > hi:
        expr = f"{greater(x.name, v.width, hi)} ? {literal(hi)} : {expr}"
    out = n.wire(
        expr,
        max(v.lo, lo) if v.hi >= lo else lo,
        min(v.hi, hi) if v.lo <= hi else hi,
        v.frac,
        stage,
        ready + n.delays.compare(v.width),
        "clip",
    )
    if out.const is None:
        n.clips[out.name] = (v, lo, hi)
    return out


def top_bits(n: Netlist, v: Val, width: int, bits: int) -> Val:
    """The top `bits` of the `width`-bit pattern of `v` (two's complement), as an unsigned
    integer (a table index); fewer pattern bits than `bits` are padded with zeros below.
    """
    if v.const is not None:
        pattern = v.const & ((1 << width) - 1)
        return n.const(pattern >> (width - bits) if width >= bits else pattern << (bits - width), 0)
    low = low_bits(v, width)
    if width >= bits:
        expr = (
            f"$signed({{1'b0, {v.name}[{width - 1}:{width - bits}]}})"
            if v.width >= width
            else (f"$signed({{1'b0, {low}}}) >>> {width - bits}")
        )
    else:
        expr = f"$signed({{1'b0, {low}, {bits - width}'d0}})"
    return n.wire(expr, 0, (1 << bits) - 1, 0, v.stage, v.delay, "idx")


def trunc_scale(n: Netlist, v: Val, num: int, shift: int) -> Val:
    """`trunc(v * num / 2**shift)` toward zero, as an integer (frac 0); `v`'s scaling is
    ignored (it is part of `shift`).
    """
    p = cmul(n, Val(v.name, v.lo, v.hi, 0, v.stage, v.delay, v.const), num, 0)
    if shift <= 0:
        return n.shift_left(p, -shift) if p.const is None else n.const(p.const << -shift, 0)
    q = quantise(n, p, p.frac - shift, Quant.TRN_ZERO)
    return Val(q.name, q.lo, q.hi, 0, q.stage, q.delay, q.const)
