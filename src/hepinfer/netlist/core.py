"""The netlist builder of the RTL generator: exact integer signals, their ranges, and pipeline stages.

Every value of the design is a `Val`: a signed Verilog wire (or a constant) holding an integer
mantissa `m` in a known range `[lo, hi]`, scaled by `2**-frac`. Widths follow from the ranges,
so every signal is exactly as wide as its values need (an unsigned `ap_ufixed<W,I>` value is a
W+1-bit signed wire whose top bit is 0).

Scheduling is as-soon-as-possible with a delay model (`DelayModel`): a value carries the stage
(clock cycle) it is computed in and its combinational delay since the last register. An
operation whose inputs would exceed the clock period registers its inputs first; inputs from
earlier stages are delayed by register chains (shared by every reader). The result is a
pipeline with initiation interval 1.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hepinfer.errors import RtlError


def signed_bits(value: int) -> int:
    """Bits of the smallest two's complement integer holding `value`."""
    return (value if value >= 0 else ~value).bit_length() + 1


def range_bits(lo: int, hi: int) -> int:
    """Bits of the smallest signed integer holding every value of `[lo, hi]`."""
    return max(signed_bits(lo), signed_bits(hi))


def literal(value: int) -> str:
    """A signed Verilog literal of `value`, sized so that it never changes sign when extended."""
    mag = abs(value)
    text = f"{mag.bit_length() + 1}'sd{mag}"
    return f"-{text}" if value < 0 else text


def unsigned_bits(v: Val, n: int, shift: int = 0) -> str:
    """The low `n` bits of `v * 2**shift` as an unsigned Verilog vector: a value that is never
    negative is read without its sign bit (zero-extended), so synthesis sees no carry into it.
    """
    if shift >= n:
        return f"{n}'d0"
    m = n - shift
    zeros = f", {shift}'d0" if shift else ""
    if v.const is not None:
        return f"{{{m}'d{v.const % (1 << m)}{zeros}}}"
    if v.lo >= 0:
        ub = max(1, v.hi.bit_length())
        bits = f"{v.name}[{m - 1}:0]" if ub >= m else f"{{{m - ub}'d0, {v.name}[{ub - 1}:0]}}"
    elif v.width >= m:
        bits = f"{v.name}[{m - 1}:0]"
    else:
        bits = f"{{{{{m - v.width}{{{v.name}[{v.width - 1}]}}}}, {v.name}}}"
    return f"{{{bits}{zeros}}}" if shift else bits


def high_bits(v: Val, n: int, d: int) -> str:
    """Bits `[n-1:d]` of `v`'s `n`-bit two's complement pattern, an unsigned vector of
    `n - d` bits (`d < n`); a value that is never negative is read without its sign bit.
    """
    m = n - d
    if v.const is not None:
        return f"{m}'d{(v.const >> d) % (1 << m)}"
    if v.lo >= 0:
        ub = max(1, v.hi.bit_length())
        if ub <= d:
            return f"{m}'d0"
        top = min(ub, n)
        bits = f"{v.name}[{top - 1}:{d}]"
        return bits if top == n else f"{{{n - top}'d0, {bits}}}"
    w = v.width
    if w >= n:
        return f"{v.name}[{n - 1}:{d}]"
    if d >= w:
        return f"{{{m}{{{v.name}[{w - 1}]}}}}"
    return f"{{{{{n - w}{{{v.name}[{w - 1}]}}}}, {v.name}[{w - 1}:{d}]}}"


@dataclass(frozen=True)
class Val:
    """An exact integer signal: `name` (a wire) or `const`, in `[lo, hi]`, scaled by 2**-frac."""

    name: str
    lo: int
    hi: int
    frac: int
    stage: int = 0
    delay: float = 0.0
    const: int | None = None

    @property
    def width(self) -> int:
        """The signed width of the wire."""
        return range_bits(self.lo, self.hi)

    @property
    def ref(self) -> str:
        """How an expression reads this value (a signed operand)."""
        return literal(self.const) if self.const is not None else self.name


@dataclass(frozen=True)
class DelayModel:
    """Combinational delays (ns) of the operators, for placing pipeline registers.

    Calibrated loosely on UltraScale+ (-2 speed grade) figures: a LUT level with its local
    routing about 0.5 ns, a carry chain 0.01 ns per bit after its first LUT, a DSP48E2
    multiplier used without its internal registers about 2.5 ns.
    """

    lut: float = 0.5
    carry_per_bit: float = 0.012
    dsp: float = 2.5

    def add(self, width: int) -> float:
        """An adder or subtractor of `width` bits (a LUT level and the carry chain)."""
        return self.lut + self.carry_per_bit * width

    def compare(self, width: int) -> float:
        """A comparison with a constant and the multiplexer it drives (saturation)."""
        return self.add(width) + self.lut

    def rom(self, address_bits: int) -> float:
        """A table read: LUT6 levels for the address bits, plus the output multiplexers."""
        return self.lut * max(1, -(-address_bits // 6)) + self.lut


def csd(value: int) -> list[tuple[int, int]]:
    """The canonical signed digits of `value`: (shift, +1 or -1), fewest nonzero digits."""
    digits = []
    k = 0
    while value:
        if value & 1:
            d = 2 - (value & 3)  # +1 when ...01, -1 when ...11
            digits.append((k, d))
            value -= d
        value >>= 1
        k += 1
    return digits


@dataclass(frozen=True)
class MultiplierRule:
    """When a constant product is built from shifts and adds rather than a DSP multiplier.

    `max_adders`: the most adders a shift-add product may use (CSD digits - 1); `min_dsp_width`:
    inputs narrower than this never use a DSP (a DSP48 is wasted on them). `share` and
    `share_depth`: common subexpressions across outputs (`hepinfer.netlist.cmvm`).
    """

    max_adders: int = 2
    min_dsp_width: int = 6
    #: share common subexpressions across a layer's outputs where the sum is exact
    #: (`hepinfer.netlist.cmvm`), each shared variable at most `share_depth` adders deep
    share: bool = True
    share_depth: int = 3

    def use_dsp(self, width: int, weight: int) -> bool:
        """True when `x * weight` goes to a DSP slice."""
        adders = len(csd(abs(weight))) - 1
        return adders > self.max_adders and width >= self.min_dsp_width


@dataclass
class Counts:
    """What the generator instantiated (reported in the manifest)."""

    dsp_multipliers: int = 0
    shift_add_multipliers: int = 0
    adders: int = 0
    registers_bits: int = 0
    rom_bits: int = 0


@dataclass
class Netlist:
    """The module body being built: declarations, continuous assignments and registers."""

    period: float
    delays: DelayModel = field(default_factory=DelayModel)
    rule: MultiplierRule = field(default_factory=MultiplierRule)
    lines: list[str] = field(default_factory=list)
    regs: list[str] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    _names: dict[str, int] = field(default_factory=dict)
    _delayed: dict[tuple[str, int], Val] = field(default_factory=dict)
    _roms: dict[tuple[int, ...], str] = field(default_factory=dict)
    #: wires that are another value shifted left: name -> (source, shift); read in a later
    #: stage they are the shift of the source's register chain (no register of the zeros,
    #: one chain per source however many shifts of it are read)
    _shifts: dict[str, tuple[Val, int]] = field(default_factory=dict)
    #: constant products built: (input wire, odd constant) -> the product (`arith.cmul`)
    products: dict[tuple[str, int], Val] = field(default_factory=dict)
    #: wires that are `min(max(q, lo), hi)` of another value: name -> (q, lo, hi)
    #: (`arith` narrows a later saturating cast or ReLU of them from `q` itself)
    clips: dict[str, tuple[Val, int, int]] = field(default_factory=dict)
    max_stage: int = 0

    # ------------------------------------------------------------------ names and wires
    def fresh(self, prefix: str) -> str:
        """A new identifier starting with `prefix` (made Verilog-safe)."""
        base = re.sub(r"[^A-Za-z0-9_]", "_", prefix) or "v"
        if base[0].isdigit():
            base = f"n_{base}"
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return f"{base}_{n}"

    def wire(
        self, expr: str, lo: int, hi: int, frac: int, stage: int, delay: float, prefix: str
    ) -> Val:
        """Declare `wire signed [w-1:0] name = expr;` for a value in `[lo, hi]`."""
        if lo == hi:
            return self.const(lo, frac)
        name = self.fresh(prefix)
        width = range_bits(lo, hi)
        self.lines.append(f"wire signed [{width - 1}:0] {name} = {expr};")
        self.max_stage = max(self.max_stage, stage)
        return Val(name, lo, hi, frac, stage, delay)

    def const(self, value: int, frac: int) -> Val:
        """A constant (no wire; folded into the expressions that read it)."""
        return Val(literal(value), value, value, frac, 0, 0.0, value)

    def port_input(self, name: str, bits: str, lo: int, hi: int, frac: int) -> Val:
        """A value read from an input register (stage 0, no delay)."""
        width = range_bits(lo, hi)
        self.lines.append(f"wire signed [{width - 1}:0] {name} = $signed({bits});")
        return Val(name, lo, hi, frac, 0, 0.0)

    # ------------------------------------------------------------------ scheduling
    def at(self, v: Val, stage: int) -> Val:
        """`v` as seen in `stage` (through a shared chain of registers when it is earlier)."""
        if v.const is not None or v.stage == stage:
            return v
        if v.stage > stage:
            msg = f"internal error: {v.name} (stage {v.stage}) read in stage {stage}"
            raise RtlError(msg)
        key = (v.name, stage)
        hit = self._delayed.get(key)
        if hit is not None:  # the same wire, seen with this value's scaling and range
            return Val(hit.name, v.lo, v.hi, v.frac, stage, 0.0)
        shifted = self._shifts.get(v.name)
        if shifted is not None:
            src, k = shifted
            base = self.at(src, stage)
            name = f"{v.name}_r{stage}"
            self.lines.append(f"wire signed [{v.width - 1}:0] {name} = {base.name} <<< {k};")
            out = Val(name, v.lo, v.hi, v.frac, stage, 0.0)
            self._delayed[key] = out
            return out
        prev = self.at(v, stage - 1)
        name = f"{v.name}_r{stage}"
        if v.lo >= 0 and v.width > 1:
            # never negative: the sign bit is the constant 0, not registered (a flat synthesis
            # would remove that flip-flop and propagate the 0; a design cut at its registers,
            # `rtl.pieces`, sees it only this way)
            n = v.width - 1
            self.lines.append(f"reg [{n - 1}:0] {name}_q;")
            self.lines.append(
                f"wire signed [{v.width - 1}:0] {name} = $signed({{1'b0, {name}_q}});"
            )
            self.regs.append(f"{name}_q <= {prev.name}[{n - 1}:0];")
            self.counts.registers_bits += n
        else:
            self.lines.append(f"reg signed [{v.width - 1}:0] {name};")
            self.regs.append(f"{name} <= {prev.name};")
            self.counts.registers_bits += v.width
        out = Val(name, v.lo, v.hi, v.frac, stage, 0.0)
        self._delayed[key] = out
        self.max_stage = max(self.max_stage, stage)
        return out

    def schedule(self, vals: Sequence[Val], cost: float) -> tuple[list[Val], int, float]:
        """Align `vals` for an operation of delay `cost`: the inputs as seen in the stage it
        runs in, that stage, and the delay at which its inputs are ready there.
        """
        live = [v for v in vals if v.const is None]
        if not live:
            return list(vals), 0, 0.0
        stage = max(v.stage for v in live)
        ready = max((v.delay for v in live if v.stage == stage), default=0.0)
        if ready > 0 and ready + cost > self.period:
            stage, ready = stage + 1, 0.0
        return [self.at(v, stage) for v in vals], stage, ready

    # ------------------------------------------------------------------ arithmetic
    def add(
        self,
        a: Val,
        b: Val,
        prefix: str = "s",
        subtract: bool = False,
        wrap: int | None = None,
    ) -> Val:
        """`a + b` (or `a - b`), exact; both must have the same scaling.

        With `wrap`, a sum that needs more than `wrap` bits is computed modulo `2**wrap`
        (its `wrap`-bit two's complement value): for a sum that is wrapped to `wrap` bits
        afterwards anyway, the same bits from a narrower adder.
        """
        if a.frac != b.frac:
            msg = f"internal error: adding values scaled 2**-{a.frac} and 2**-{b.frac}"
            raise RtlError(msg)
        lo, hi = (a.lo - b.hi, a.hi - b.lo) if subtract else (a.lo + b.lo, a.hi + b.hi)
        if a.const is not None and b.const is not None:
            value = a.const - b.const if subtract else a.const + b.const
            if wrap is not None and range_bits(value, value) > wrap:
                value = (value + (1 << (wrap - 1))) % (1 << wrap) - (1 << (wrap - 1))
            return self.const(value, a.frac)
        if b.const == 0:
            return a
        if a.const == 0 and not subtract:
            return b
        width = range_bits(lo, hi)
        if wrap is not None and width > wrap:
            return self._wrapped_sum(a, b, subtract, wrap, prefix)
        (a2, b2), stage, ready = self.schedule((a, b), self.delays.add(width))
        self.counts.adders += 1
        return self.sum_wire(
            a2,
            b2,
            subtract,
            lo,
            hi,
            a.frac,
            stage,
            ready + self.delays.add(width),
            prefix,
        )

    def sum_wire(
        self,
        a: Val,
        b: Val,
        subtract: bool,
        lo: int,
        hi: int,
        frac: int,
        stage: int,
        delay: float,
        prefix: str,
        shift_a: int = 0,
        shift_b: int = 0,
    ) -> Val:
        """`(a << shift_a) ± (b << shift_b)`, in `[lo, hi]`, as its own adder.

        The sum is computed one bit wider than it needs, on operands extended explicitly, into
        a wire marked `keep`, and sliced: Yosys' `alumacc` then cannot merge chained adders
        into one multi-operand `$macc` (which it maps to LUT3-6 and MUXF7-9 compressor trees
        instead of carry chains). Both are needed: without `keep`, Yosys trims the unread top
        bit, and a chain whose intermediate sums are as wide as the last (a wrapping
        accumulator, exact sums of equal width) is merged again; a `keep` wire of the exact
        width is merged too (on the unpruned jet tagger the merged trees were 37k LUT6 and 24k
        MUXF7-9, and a fifth of Yosys' time). A sum that is never negative is computed on
        unsigned operands (no sign bit to carry) and zero-extended. The result fits, so the
        modular sum is exact.
        """
        if lo == hi:
            return self.const(lo, frac)
        op = "-" if subtract else "+"
        n = hi.bit_length() if lo >= 0 else range_bits(lo, hi)
        if shift_a == 0 and 0 < shift_b < n:
            return self._pass_low(a, b, subtract, lo, hi, frac, stage, delay, prefix, shift_b)
        if shift_b == 0 and 0 < shift_a < n and not subtract:
            return self._pass_low(b, a, subtract, lo, hi, frac, stage, delay, prefix, shift_a)
        ea, eb = unsigned_bits(a, n, shift_a), unsigned_bits(b, n, shift_b)
        name = self.fresh(f"{prefix}_s")
        if lo >= 0:
            self.lines.append(
                f"(* keep *) wire [{n}:0] {name} = {{1'b0, {ea}}} {op} {{1'b0, {eb}}};"
            )
            expr = f"$signed({{1'b0, {name}[{n - 1}:0]}})"
        else:
            ea, eb = unsigned_bits(a, n + 1, shift_a), unsigned_bits(b, n + 1, shift_b)
            self.lines.append(f"(* keep *) wire [{n}:0] {name} = {ea} {op} {eb};")
            expr = f"$signed({name}[{n - 1}:0])"
        return self.wire(expr, lo, hi, frac, stage, delay, prefix)

    def add_shifted(
        self, a: Val, ka: int, b: Val, kb: int, subtract: bool, prefix: str = "s"
    ) -> Val:
        """`(a << ka) ± (b << kb)`, exact, as one adder on the unshifted operands (the low
        bits below the smaller shift are zero, those between the shifts wiring).
        """
        if a.frac != b.frac:
            msg = f"internal error: adding values scaled 2**-{a.frac} and 2**-{b.frac}"
            raise RtlError(msg)
        if a.const is not None or b.const is not None:
            return self.add(self.shift_left(a, ka), self.shift_left(b, kb), prefix, subtract)
        m = min(ka, kb)
        la, ha, lb, hb = a.lo << (ka - m), a.hi << (ka - m), b.lo << (kb - m), b.hi << (kb - m)
        lo, hi = (la - hb, ha - lb) if subtract else (la + lb, ha + hb)
        width = range_bits(lo, hi)
        (a2, b2), stage, ready = self.schedule((a, b), self.delays.add(width))
        self.counts.adders += 1
        out = self.sum_wire(
            a2,
            b2,
            subtract,
            lo,
            hi,
            a.frac,
            stage,
            ready + self.delays.add(width),
            prefix,
            ka - m,
            kb - m,
        )
        return self.shift_left(out, m)

    def _wrapped_sum(self, a: Val, b: Val, subtract: bool, bits: int, prefix: str) -> Val:
        """`a ± b` modulo `2**bits`, as a signed `bits`-bit value (`add` with `wrap`); written
        one bit wider into a `keep` wire and sliced, as `sum_wire`, so that `alumacc` keeps
        each adder apart.
        """
        (a2, b2), stage, ready = self.schedule((a, b), self.delays.add(bits))
        self.counts.adders += 1
        op = "-" if subtract else "+"
        name = self.fresh(f"{prefix}_s")
        ea, eb = unsigned_bits(a2, bits + 1), unsigned_bits(b2, bits + 1)
        self.lines.append(f"(* keep *) wire [{bits}:0] {name} = {ea} {op} {eb};")
        top = 1 << (bits - 1)
        return self.wire(
            f"$signed({name}[{bits - 1}:0])",
            -top,
            top - 1,
            a.frac,
            stage,
            ready + self.delays.add(bits),
            prefix,
        )

    def _pass_low(
        self,
        a: Val,
        b: Val,
        subtract: bool,
        lo: int,
        hi: int,
        frac: int,
        stage: int,
        delay: float,
        prefix: str,
        d: int,
    ) -> Val:
        """`a ± (b << d)` (0 < d < its width): the low `d` bits are `a`'s (the shifted
        operand's are zero, so neither a carry nor a borrow leaves them), wiring; only the
        bits above are an adder, `(a >> d) ± b`.
        """
        op = "-" if subtract else "+"
        name = self.fresh(f"{prefix}_s")
        if lo >= 0:  # unsigned, zero-extended (as `sum_wire`)
            n = hi.bit_length()
            ha, hb = f"{{1'b0, {high_bits(a, n, d)}}}", f"{{1'b0, {unsigned_bits(b, n - d)}}}"
            sign = "1'b0, "
        else:
            n = range_bits(lo, hi)
            ha, hb, sign = high_bits(a, n + 1, d), unsigned_bits(b, n + 1 - d), ""
        self.lines.append(f"(* keep *) wire [{n - d}:0] {name} = {ha} {op} {hb};")
        expr = f"$signed({{{sign}{name}[{n - d - 1}:0], {unsigned_bits(a, d)}}})"
        return self.wire(expr, lo, hi, frac, stage, delay, prefix)

    def total(self, vals: Sequence[Val], prefix: str = "t", wrap: int | None = None) -> Val:
        """The exact sum of `vals` (same scaling) as an adder tree that always adds the two
        earliest-ready operands first (the shallowest tree for the given arrival times); with
        `wrap`, modulo `2**wrap` (see `add`).
        """
        if not vals:
            msg = "internal error: sum of no values"
            raise RtlError(msg)
        consts = sum(v.const for v in vals if v.const is not None)
        live = [v for v in vals if v.const is None]
        if not live:
            return self.const(consts, vals[0].frac)
        heap = [(v.stage, v.delay, i, v) for i, v in enumerate(live)]
        heapq.heapify(heap)
        tie = len(heap)
        while len(heap) > 1:
            a = heapq.heappop(heap)[3]
            b = heapq.heappop(heap)[3]
            s = self.add(a, b, prefix, wrap=wrap)
            heapq.heappush(heap, (s.stage, s.delay, tie, s))
            tie += 1
        out = heap[0][3]
        if consts:
            out = self.add(out, self.const(consts, out.frac), prefix, wrap=wrap)
        return out

    def shift_left(self, v: Val, k: int, prefix: str = "sh") -> Val:
        """`v * 2**k` as wiring (k >= 0; the scaling stays, the mantissa grows)."""
        if k == 0:
            return v
        if v.const is not None:
            return self.const(v.const << k, v.frac)
        out = self.wire(f"{v.ref} <<< {k}", v.lo << k, v.hi << k, v.frac, v.stage, v.delay, prefix)
        self._shifts[out.name] = (v, k)
        return out

    def rescale(self, v: Val, frac: int) -> Val:
        """The same value with `frac >= v.frac` fractional bits (a left shift)."""
        if frac < v.frac:
            msg = f"internal error: rescale would drop bits ({v.frac} -> {frac})"
            raise RtlError(msg)
        shifted = self.shift_left(v, frac - v.frac)
        return Val(
            shifted.name, shifted.lo, shifted.hi, frac, shifted.stage, shifted.delay, shifted.const
        )

    def rom(self, addr: Val, contents: Sequence[int], frac: int, prefix: str = "rom") -> Val:
        """`contents[addr]` from a read-only memory (declared once per distinct table; the
        address must lie in `[0, len(contents) - 1]`).
        """
        if addr.lo < 0 or addr.hi >= len(contents):
            msg = f"internal error: ROM address in [{addr.lo}, {addr.hi}], {len(contents)} words"
            raise RtlError(msg)
        words = tuple(int(c) for c in contents)
        lo, hi = min(words[addr.lo : addr.hi + 1]), max(words[addr.lo : addr.hi + 1])
        if addr.const is not None:
            return self.const(words[addr.const], frac)
        width = range_bits(min(words), max(words))
        name = self._roms.get(words)
        if name is None:
            name = self.fresh(prefix)
            self._roms[words] = name
            self.lines.append(f"reg signed [{width - 1}:0] {name} [0:{len(words) - 1}];")
            self.lines.append("initial begin")
            self.lines.extend(f"    {name}[{i}] = {literal(w)};" for i, w in enumerate(words))
            self.lines.append("end")
            self.counts.rom_bits += width * len(words)
        bits = max(1, (len(words) - 1).bit_length())
        cost = self.delays.rom(bits)
        (a,), stage, ready = self.schedule((addr,), cost)
        return self.wire(
            f"{name}[{a.name}[{bits - 1}:0]]", lo, hi, frac, stage, ready + cost, f"{prefix}_q"
        )

    def mul(self, a: Val, b: Val, prefix: str = "mul") -> Val:
        """`a * b` of two signals (a DSP multiplier), exact."""
        ends = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
        if a.const is not None and b.const is not None:
            return self.const(a.const * b.const, a.frac + b.frac)
        (a2, b2), stage, ready = self.schedule((a, b), self.delays.dsp)
        self.counts.dsp_multipliers += 1
        return self.wire(
            f"{a2.ref} * {b2.ref}",
            min(ends),
            max(ends),
            a.frac + b.frac,
            stage,
            ready + self.delays.dsp,
            prefix,
        )

    def select(self, a: Val, b: Val, larger: bool, prefix: str = "mx") -> Val:
        """`max(a, b)` (larger) or `min(a, b)`: a comparison and a multiplexer."""
        if a.frac != b.frac:
            msg = "internal error: comparing values of different scaling"
            raise RtlError(msg)
        lo = max(a.lo, b.lo) if larger else min(a.lo, b.lo)
        hi = max(a.hi, b.hi) if larger else min(a.hi, b.hi)
        cost = self.delays.compare(max(a.width, b.width))
        (a2, b2), stage, ready = self.schedule((a, b), cost)
        op = ">=" if larger else "<="
        return self.wire(
            f"({a2.ref} {op} {b2.ref}) ? {a2.ref} : {b2.ref}",
            lo,
            hi,
            a.frac,
            stage,
            ready + cost,
            prefix,
        )

    def tree(self, vals: Sequence[Val], combine: Callable[[Val, Val], Val]) -> Val:
        """`vals` reduced pairwise by `combine` as a balanced tree (left to right at each
        level, so ties keep the first operand's order).
        """
        level = list(vals)
        while len(level) > 1:
            nxt = [combine(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        return level[0]

    def first_equal(self, vals: Sequence[Val], target: Val, one: int, frac: int) -> list[Val]:
        """One-hot: `one` at the first element equal to `target`, 0 elsewhere (argmax)."""
        cost = self.delays.compare(target.width) + self.delays.lut
        *aligned, t2 = self.schedule((*vals, target), cost)[0]
        stage = t2.stage if t2.const is None else max(v.stage for v in aligned)
        ready = max(v.delay for v in (*aligned, t2))
        eq = [f"({v.ref} == {t2.ref})" for v in aligned]
        outs = []
        for i in range(len(vals)):
            before = " | ".join(eq[:i])
            cond = f"{eq[i]} & ~({before})" if before else eq[i]
            outs.append(
                self.wire(
                    f"({cond}) ? {literal(one)} : {literal(0)}",
                    min(0, one),
                    max(0, one),
                    frac,
                    stage,
                    ready + cost,
                    "hot",
                )
            )
        return outs

    def emit(self, prefix: str, vals: Sequence[Val]) -> list[Val]:
        """Declare constants as wires (for ports that need a name)."""
        out = []
        for v in vals:
            if v.const is None:
                out.append(v)
                continue
            name = self.fresh(prefix)
            self.lines.append(f"wire signed [{v.width - 1}:0] {name} = {v.ref};")
            out.append(Val(name, v.lo, v.hi, v.frac, 0, 0.0))
        return out
