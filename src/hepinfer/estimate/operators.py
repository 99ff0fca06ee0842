"""The analytic cost model of each operator, per strategy and io type.

Every function maps a layer description (`hepinfer.estimate.layers`) to a `LayerEstimate`.
The model mirrors the loop structure of hls4ml-style HLS kernels (``docs/estimate.md`` has
the derivations and sources):

**Dense / convolution, Latency strategy, reuse factor 1** (``dense_latency``): every product
has its own multiplier and the weights are constants, so each product is simplified by its
constant (`hepinfer.estimate.multipliers`: zero weights vanish, powers of two are shifts,
narrow products go to LUTs). Each output is a balanced adder tree over its non-zero
products and the bias: latency = the cycles spanned by one product plus
``ceil(log2(terms))`` adders. A layer with more than ``Timing.inline_products`` products stays
a separate function whose outputs are registered; smaller ones are inlined and chain with
their neighbours.

**Latency strategy, reuse factor R > 1**: Vivado shares ``ceil(P/R) - floor(zeros/R)``
multipliers (hls4ml's ``multiplier_limit``), each fed a multiplexed weight of full width;
the function is pipelined with II = R and latency ``R - 1 +`` one product-plus-tree.

**Resource strategy** (``dense_resource``): a loop of R iterations pipelined at II = 1 does
``ceil(P/R)`` products per iteration into the accumulators; weights are read from block RAM
(``ceil(P/R) * weight_width`` bits wide, R deep; BRAM or URAM) when R > 1 and are constants at
R = 1. Latency = ``R - 1 +`` iteration depth (BRAM read, product, accumulation) ``+ 1``;
II = R. Zero weights still occupy multipliers (they are stored, not removed). A layer whose
``DenseCost.kernel`` is ``"hepinfer"`` is costed as the loop hepinfer's HLS writer generates
(`hepinfer.ops.reuse.ReuseSchedule`): ``lanes`` multipliers, II = its trip count, its ROM in
LUTRAM (up to 64 words) or block RAM.

**Convolution, io_parallel**: the im2col kernel computes ``parallelization_factor`` output
pixels per partition, the partitions one after another: II = partitions x R and latency =
II + one partition's depth. **io_stream**: one input pixel per R cycles through a line
buffer, so II = input pixels x R and latency = II + the depth of one output pixel.

**Activations**: ReLU-like kinds are comparators and multiplexers chained into the
neighbouring logic (0 cycles); table kinds (sigmoid, tanh, ELU, ...) read a
``table_size x table_bits`` ROM, one BRAM18K port per parallel lookup (two per BRAM18K),
2 cycles; softmax reads an exp table per element, sums them, reads an inverse table and
multiplies (n DSPs), 6 cycles. In io_stream each layer loops over its pixels at II = 1 with
``Timing.stream_overhead_cycles`` of FIFO overhead, and writes one output FIFO per channel,
as deep as its output pixels (block RAM beyond 32 entries, shift registers below).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hepinfer.errors import EstimateError
from hepinfer.estimate.diagnostics import (
    EstimateWarning,
    ReuseFactorWarning,
    UnrollLimitWarning,
)
from hepinfer.estimate.layers import (
    TABLE_ACTIVATIONS,
    ActivationCost,
    BatchNormCost,
    ConvCost,
    DenseCost,
    ElementwiseCost,
    PoolCost,
    RecurrentCost,
    as_fixed,
    fixed_or,
)
from hepinfer.estimate.multipliers import MultiplierModel, ProductKind
from hepinfer.estimate.parts import Part
from hepinfer.estimate.report import LayerEstimate, Resources
from hepinfer.estimate.timing import Timing, tree_depth
from hepinfer.estimate.tools import ToolRules, tool_rules
from hepinfer.fixed import FixedType
from hepinfer.knobs import IOType, Strategy
from hepinfer.ops.reuse import LUTRAM_MAX_DEPTH, ReuseSchedule

__all__ = ["Context", "estimate_layer", "valid_reuse_factors"]

BRAM18_BITS = 18 * 1024


@dataclass(frozen=True)
class Context:
    """Everything the per-operator models share: part, clock, timing and product rules."""

    part: Part
    clock_period: float
    timing: Timing
    multipliers: MultiplierModel
    notes: list[tuple[str, type[Warning]]]
    tool: ToolRules = field(default_factory=tool_rules)

    def warn(self, message: str, category: type[Warning] = EstimateWarning) -> None:
        """Record a warning; `estimate_layers` emits it at the caller's line."""
        self.notes.append((message, category))

    def scaled(self, delay_ns: float) -> float:
        """A delay stretched by the part's speed scale."""
        return delay_ns * self.part.speed_scale

    def cycles(self, delay_ns: float) -> int:
        """Clock cycles a (scaled) combinational delay spans."""
        return self.timing.cycles(delay_ns, self.clock_period)


def _bram18(width_bits: int, depth: int) -> int:
    """BRAM18K blocks for a ``depth x width_bits`` memory (aspect ratios of a RAMB18E2)."""
    if width_bits <= 0 or depth <= 0:
        return 0
    for max_depth, port in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2)):
        if depth <= max_depth:
            return math.ceil(width_bits / port)
    return math.ceil(width_bits / 1) * math.ceil(depth / 16384)


def _uram(width_bits: int, depth: int) -> int:
    """URAM288 blocks (4096 x 72) for a ``depth x width_bits`` memory."""
    return math.ceil(width_bits / 72) * math.ceil(depth / 4096)


@dataclass(frozen=True)
class _MatMul:
    """The shared core of dense and convolution layers: ``n_in x n_out`` products."""

    name: str
    op: str
    n_in: int
    n_out: int
    copies: int  # how many times the product array is instantiated (conv: pixels at once)
    input: FixedType
    weight: FixedType
    accum: FixedType
    reuse_factor: int
    strategy: Strategy
    weight_kind: str
    zero_fraction: float
    weights: Any
    weight_storage: str = "bram"
    schedule: ReuseSchedule | None = None  # hepinfer's Resource kernel (`hepinfer.ops.reuse`)
    live: Any = None  # products HLS keeps (`hepinfer.estimate.liveness`); None: all


@dataclass(frozen=True)
class _MatMulCost:
    dsp: int
    lut: int
    ff: int
    bram18k: int
    uram: int
    depth_cycles: int  # cycles of one product-plus-tree (or one loop iteration)
    comb_ns: float  # its combinational delay (scaled)
    multipliers: int
    unrolled: int  # products one pipeline iteration unrolls
    details: dict[str, Any]
    uses: int | None = None  # Latency R > 1 with known weights: products per shared multiplier


def _matmul(m: _MatMul, ctx: Context) -> _MatMulCost:
    t = ctx.timing
    products = m.n_in * m.n_out
    rf = m.reuse_factor
    if rf > products:
        ctx.warn(
            f"layer {m.name!r}: reuse factor {rf} exceeds its {products} products; "
            f"using {products} (each multiplier used once per product)"
        )
        rf = products
    # Zero weights and non-zeros per output.
    if m.weights is not None:
        q = m.weight.to_mantissa(np.asarray(m.weights)).reshape(m.n_in, m.n_out)
        zeros = int(np.sum(q == 0))  # hls4ml's n_zeros (multiplier_limit) counts them all
        if m.live is not None:  # products of unused outputs / constant inputs are gone
            q = np.where(np.asarray(m.live).reshape(m.n_in, m.n_out), q, 0)
        max_terms = int(np.max(np.sum(q != 0, axis=0)))
    else:
        q = None
        zero_share = m.zero_fraction if m.weight_kind in ("general", "ternary", "po2") else 0.0
        zeros = round(products * zero_share)
        max_terms = math.ceil(m.n_in * (1.0 - zero_share))
    nonzero = products - zeros if q is None else int(np.sum(q != 0))
    constants = rf == 1
    uses: int | None = None
    details: dict[str, Any] = {"products": products * m.copies, "zero_weights": zeros}
    dsp = lut = 0
    any_dsp = any_lut_mult = any_shift_add = False
    if constants:
        n_mult = nonzero
        if q is not None:
            classes = ctx.multipliers.constant_products(m.input.width, q, m.weight.signed)
        elif m.weight_kind == "general":
            cost = ctx.multipliers.variable_product(m.input.width, m.weight.width)
            classes = {
                ProductKind.ZERO: (zeros, 0, 0),
                cost.kind: (nonzero, nonzero * cost.dsp, nonzero * cost.lut),
            }
        else:  # binary / ternary / power-of-two weights: shifts and sign flips
            classes = {ProductKind.ZERO: (zeros, 0, 0), ProductKind.SHIFT: (nonzero, 0, 0)}
        for kind, (count, k_dsp, k_lut) in classes.items():
            dsp += k_dsp
            lut += k_lut
            details[f"products_{kind.value}"] = count * m.copies
            any_dsp |= kind is ProductKind.DSP and count > 0
            any_lut_mult |= kind is ProductKind.LUT and count > 0
            any_shift_add |= kind is ProductKind.SHIFT_ADD and count > 0
        # adder trees: one adder per non-zero product (the bias included), in LUTs, except
        # one per output that has a DSP product: the DSP computes A * B + C, the bias
        # entering its C port (a Dense(1 -> 64) layer of DSP products reports no adders)
        dsp_products = classes.get(ProductKind.DSP, (0, 0, 0))[0]
        absorbed = min(m.n_out, dsp_products)
        lut += (nonzero - absorbed) * m.accum.width
        unrolled = products
    else:
        if m.strategy is Strategy.LATENCY:
            n_mult = math.ceil(products / rf) - zeros // rf
            if q is not None and n_mult > 0:
                # the `mul` operations the ALLOCATION limit shares: products by constants of
                # one or two CSD digits are shifts and adds, not multiplications
                classes = ctx.multipliers.constant_products(m.input.width, q, m.weight.signed)
                muls = sum(
                    classes.get(kind, (0, 0, 0))[0] for kind in (ProductKind.DSP, ProductKind.LUT)
                )
                uses = math.ceil(muls / n_mult)
                details["multiplier_uses"] = uses
        elif m.schedule is not None:
            n_mult = m.schedule.lanes  # the kernel's ALLOCATION limit
        else:
            n_mult = math.ceil(products / rf)
        if m.weight_kind == "general":
            cost = ctx.multipliers.variable_product(m.input.width, m.weight.width)
            dsp = n_mult * cost.dsp
            lut = n_mult * cost.lut
            any_dsp = cost.kind is ProductKind.DSP
            any_lut_mult = cost.kind is ProductKind.LUT
        else:
            lut = n_mult * m.input.width  # sign flip / shift selection
        # input (and, for Latency, weight) multiplexers in front of each shared multiplier
        mux_levels = math.ceil(math.log(max(2, min(rf, m.n_in)), 4))
        lut += n_mult * m.input.width * mux_levels
        if m.strategy is Strategy.LATENCY:
            lut += n_mult * m.weight.width * math.ceil(math.log(max(2, rf), 4))
        if not any_dsp:
            lut += n_mult * m.accum.width  # accumulators outside DSP post-adders
        unrolled = n_mult if m.strategy is Strategy.RESOURCE else products
        details["multipliers"] = n_mult * m.copies
    # Timing of one product plus its adder tree (or one loop iteration).
    if any_dsp:
        t_prod = t.dsp_mult_ns
    elif any_lut_mult:
        t_prod = t.lut_mult_ns
    elif any_shift_add:
        t_prod = t.add_ns(m.input.width)
    else:
        t_prod = 0.0
    if constants or m.strategy is Strategy.LATENCY:
        terms = max_terms + 1  # with the bias
    else:
        per_iteration = max(1, math.ceil(m.n_in / rf))
        terms = per_iteration + 1  # into the accumulator
    comb = ctx.scaled(t_prod + tree_depth(terms) * t.add_ns(m.accum.width))
    depth = ctx.cycles(comb)
    if ctx.tool.register_tree_levels and (constants or m.strategy is Strategy.LATENCY):
        # every DSP pipeline stage and every adder-tree level is a register stage
        # (set at 5 ns: a longer clock holds more levels and fewer DSP stages)
        usable = t.usable_ns(ctx.clock_period)
        per_cycle = max(1, math.floor(usable / (2 * ctx.scaled(t.add_ns(m.accum.width)))))
        dsp_stages = math.ceil(ctx.tool.dsp_stages * min(1.0, 5.0 / ctx.clock_period))
        stages = dsp_stages if any_dsp else (1 if t_prod > 0 else 0)
        depth = max(depth, stages + math.ceil(tree_depth(terms) / per_cycle))
    # Weight storage (Resource strategy at R > 1 keeps weights in block RAM or URAM).
    bram = uram = 0
    if m.strategy is Strategy.RESOURCE and m.schedule is not None and not constants:
        # hepinfer's ROM: one word of `lanes` weights per iteration, bound by its depth
        s = m.schedule
        width_bits = s.lanes * m.weight.width
        if m.weight_storage == "uram":
            uram = _uram(width_bits, s.iterations)
        elif s.storage == "bram":
            bram = _bram18(width_bits, s.iterations)
        elif s.storage == "lutram":
            lut += width_bits * math.ceil(s.iterations / LUTRAM_MAX_DEPTH)
        details["weight_memory_bits"] = width_bits * s.iterations
        details["weight_rom"] = "uram" if m.weight_storage == "uram" else s.storage
        details["iterations"] = s.iterations
    elif m.strategy is Strategy.RESOURCE and rf > 1:
        width_bits = math.ceil(products / rf) * m.weight.width
        if m.weight_storage == "uram":
            uram = _uram(width_bits, rf)
        else:
            bram = _bram18(width_bits, rf)
        details["weight_memory_bits"] = width_bits * rf
    elif m.strategy is Strategy.LATENCY and rf > 1:
        lut += math.ceil(products * m.weight.width / 64)  # weights as LUT ROM
    # registers: the outputs (when the layer is its own function), one full-width stage of
    # product terms when a product and its tree span several cycles, operand registers of
    # shared multipliers
    product_bits = m.input.width + m.weight.width
    ff = m.n_out * m.accum.width
    if depth > 1:
        ff += (nonzero if constants else n_mult) * product_bits
        ff += (depth - 2) * m.n_out * m.accum.width
    if not constants:
        ff += n_mult * product_bits
    details["tree_depth"] = tree_depth(terms)
    return _MatMulCost(
        dsp=dsp * m.copies,
        lut=lut * m.copies,
        ff=ff * m.copies,
        bram18k=bram,
        uram=uram,
        depth_cycles=depth,
        comb_ns=comb,
        multipliers=n_mult * m.copies,
        unrolled=unrolled * m.copies,
        details=details,
        uses=uses,
    )


def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """Reuse factors the Resource-strategy matrix kernel accepts (`ReuseFactorWarning`)."""
    products = n_in * n_out
    divisors = {
        d
        for i in range(1, math.isqrt(products) + 1)
        if products % i == 0
        for d in (i, products // i)
    }
    valid = []
    for rf in sorted(divisors):
        ok = math.ceil(products / rf) % n_out == 0 if rf < n_in else rf % n_in == 0
        if ok:
            valid.append(rf)
    return valid


def _check_reuse(name: str, n_in: int, n_out: int, rf: int, ctx: Context) -> None:
    valid = valid_reuse_factors(n_in, n_out)
    if rf in valid:
        return
    closest = min(valid, key=lambda v: (abs(v - rf), v))
    shown = ", ".join(str(v) for v in valid[:12]) + (", ..." if len(valid) > 12 else "")
    ctx.warn(
        f"layer {name!r}: reuse factor {rf} does not divide its {n_in} x {n_out} products "
        f"evenly for the Resource strategy; hls4ml-style kernels would use {closest} "
        f"(valid: {shown})",
        ReuseFactorWarning,
    )


def _check_unroll(name: str, unrolled: int, ctx: Context, hint: str) -> None:
    if unrolled > ctx.timing.unroll_limit:
        ctx.warn(
            f"layer {name!r} unrolls {unrolled:,} multiplications in one loop, above Vivado's "
            f"{ctx.timing.unroll_limit:,}-iteration unroll limit (XFORM 203-504); {hint}",
            UnrollLimitWarning,
        )


def _dense(layer: DenseCost, ctx: Context) -> LayerEstimate:
    inp = as_fixed(layer.input)
    out = fixed_or(layer.output, inp)
    acc = fixed_or(layer.accum, out)
    hepinfer_resource = layer.kernel == "hepinfer" and layer.strategy is Strategy.RESOURCE
    rf = min(layer.reuse_factor, layer.n_in * layer.n_out)
    schedule = ReuseSchedule(layer.n_in, layer.n_out, rf) if hepinfer_resource else None
    m = _MatMul(
        layer.name,
        "dense",
        layer.n_in,
        layer.n_out,
        1,
        inp,
        as_fixed(layer.weight),
        acc,
        layer.reuse_factor,
        layer.strategy,
        layer.weight_kind,
        layer.zero_fraction,
        layer.weights,
        layer.weight_storage,
        schedule,
        layer.live,
    )
    c = _matmul(m, ctx)
    _check_unroll(layer.name, c.unrolled, ctx, "use the Resource strategy or a larger reuse factor")
    if layer.strategy is Strategy.RESOURCE and rf > 1 and schedule is None:
        _check_reuse(layer.name, layer.n_in, layer.n_out, rf, ctx)
    stream = layer.io_type is IOType.STREAM
    srl = stream and ctx.tool.stream_fifo_in_srl
    # one-word output FIFO (as for activations, `_activation`)
    fifo_lut = _one_word_fifo_lut(srl, layer.n_out * out.width) if stream else 0
    fifo_ff = layer.n_out * acc.width if srl else 0  # the output registers become SRLs
    res = Resources(c.dsp, c.lut + fifo_lut, max(0, c.ff - fifo_ff), c.bram18k, c.uram)
    if stream:
        c.details["output_fifo"] = {"lut": fifo_lut, "bram18k": 0}
    if layer.strategy is Strategy.LATENCY and rf == 1:
        small = layer.n_in * layer.n_out <= ctx.timing.inline_products
        registered = not small or stream
        latency = c.depth_cycles if registered else max(0, c.depth_cycles - 1)
        if not registered:  # inlined: no output registers of its own
            res = Resources(c.dsp, c.lut, max(0, c.ff - layer.n_out * acc.width), 0, 0)
        if ctx.tool.register_tree_levels:  # register stages, nothing left to chain
            latency = c.depth_cycles
            return LayerEstimate(
                layer.name,
                "dense",
                res,
                latency,
                1,
                layer.io_type,
                fixed_cycles=latency,
                registered=True,
                fill_cycles=latency,
                details=c.details,
            )
        return LayerEstimate(
            layer.name,
            "dense",
            res,
            latency,
            1,
            layer.io_type,
            comb_ns=c.comb_ns,
            registered=registered,
            chainable=not registered,
            fill_cycles=latency,
            details=c.details,
        )
    if layer.strategy is Strategy.LATENCY and ctx.tool.latency_reuse_chained and not stream:
        # the shared products take R - 1 more cycles; their adder tree chains like R = 1's.
        # With known weights each multiplier is used `uses` times; below R the schedule is
        # that long and the function restarts when done (II = uses: `ToolRules`)
        ii = rf
        if ctx.tool.reuse_ii_by_uses and c.uses is not None:
            ii = max(1, min(rf, c.uses))
        return LayerEstimate(
            layer.name,
            "dense",
            res,
            ii - 1 + c.depth_cycles,
            ii,
            layer.io_type,
            comb_ns=c.comb_ns,
            fixed_cycles=ii - 1,
            registered=True,
            fill_cycles=ii - 1 + c.depth_cycles,
            details=c.details,
        )
    if schedule is not None:
        # the generated loop: `iterations` at II = 1 after a ROM read (LUTRAM: 1 cycle)
        ii = schedule.iterations
        read = {"bram": ctx.timing.table_read_cycles, "lutram": 1}.get(schedule.storage, 0)
    else:
        ii = rf
        read = ctx.timing.table_read_cycles if layer.strategy is Strategy.RESOURCE and rf > 1 else 0
    latency = ii - 1 + read + c.depth_cycles + 1
    return LayerEstimate(
        layer.name,
        "dense",
        res,
        latency,
        ii,
        layer.io_type,
        fixed_cycles=latency,
        registered=True,
        fill_cycles=latency,
        details=c.details,
    )


def _conv(layer: ConvCost, ctx: Context) -> LayerEstimate:
    inp = as_fixed(layer.input)
    out = fixed_or(layer.output, inp)
    acc = fixed_or(layer.accum, out)
    n_in = layer.kernel_size * layer.n_chan
    out_pixels = layer.out_height * layer.out_width
    stream = layer.io_type is IOType.STREAM
    pixels_at_once = 1 if stream else min(layer.parallelization_factor, out_pixels)
    m = _MatMul(
        layer.name,
        "conv",
        n_in,
        layer.n_filt,
        pixels_at_once,
        inp,
        as_fixed(layer.weight),
        acc,
        layer.reuse_factor,
        layer.strategy,
        layer.weight_kind,
        layer.zero_fraction,
        layer.weights,
    )
    c = _matmul(m, ctx)
    _check_unroll(
        layer.name,
        c.unrolled,
        ctx,
        "use the Resource strategy, a larger reuse factor or a smaller parallelization_factor",
    )
    rf = min(layer.reuse_factor, n_in * layer.n_filt)
    if layer.strategy is Strategy.RESOURCE and rf > 1:
        _check_reuse(layer.name, n_in, layer.n_filt, rf, ctx)
    read = ctx.timing.table_read_cycles if layer.strategy is Strategy.RESOURCE and rf > 1 else 0
    depth = read + c.depth_cycles
    lut, ff = c.lut, c.ff
    details = dict(c.details)
    if stream:
        in_pixels = layer.in_height * layer.in_width
        padded = _stream_padded_pixels(layer)
        zero_padding = padded != in_pixels and layer.kernel == "hls4ml"
        in_pixels = padded
        if zero_padding:
            # hls4ml's io_stream 'same' convolution: a ZeroPadding1D/2D process in front
            # (`insert_zero_padding_before_conv{1,2}d`) feeds the padded image, one pixel a
            # word; the padding process adds its FIFO and its first word's two cycles
            pad_fifo = _fifo(layer.n_chan, padded, inp.width) + STREAM_CONTROL
            lut, ff = lut + pad_fifo.lut, ff + pad_fifo.ff
            details["padding_fifo_bram18k"] = pad_fifo.bram18k
        pixel_ii = rf
        if _conv_call_bound(layer, ctx) and depth > rf:
            # Vitis: compute_output_buffer_{1d,2d} (INLINE OFF) keeps its window and counters
            # in static variables, passed through the called module's ports: the next call
            # waits for the previous one, so the pixel loop's II is the call's latency
            pixel_ii = depth
            details["pixel_ii"] = pixel_ii
        ii = in_pixels * pixel_ii
        if layer.implementation == "encoded":
            # hls4ml 0.5's window: one FIFO per tap and channel, filt_height output rows
            # deep; each pixel is written into it and its window read back in the same
            # pipelined iteration, and a stream read is one more pipeline stage
            window = _fifo(
                layer.kernel_size * layer.n_chan, layer.filt_height * layer.out_width, inp.width
            )
            lut, ff = lut + window.lut, ff + window.ff
            details["window_bram18k"] = window.bram18k
            depth += 1
        else:
            # line buffer: (filt_height - 1) rows of the input in shift registers / SRL
            buffer_bits = (layer.filt_height - 1) * layer.in_width * layer.n_chan * inp.width
            lut += math.ceil(buffer_bits / 32)  # SRL32
            ff += layer.kernel_size * layer.n_chan * inp.width
        latency = ii + depth
        fill = depth + ctx.timing.stream_overhead_cycles
        if zero_padding:
            latency += ctx.timing.stream_overhead_cycles
            fill += ctx.timing.stream_overhead_cycles
        fifo = _fifo(layer.n_filt, out_pixels, out.width)
        lut, ff = lut + fifo.lut, ff + fifo.ff
        details["fifo_bram18k"] = fifo.bram18k
        details["output_fifo"] = {"lut": fifo.lut, "bram18k": fifo.bram18k}
    else:
        partitions = math.ceil(out_pixels / pixels_at_once)
        ii = partitions * rf
        latency = ii + depth
        fill = latency
        if partitions > 1:  # window selection multiplexers of the im2col buffer
            levels = math.ceil(math.log(partitions, 4))
            lut += n_in * pixels_at_once * inp.width * levels
        details["partitions"] = partitions
    fifo_bram = sum(
        int(details.get(key, 0))
        for key in ("fifo_bram18k", "window_bram18k", "padding_fifo_bram18k")
    )
    res = Resources(c.dsp, lut, ff, c.bram18k + fifo_bram, c.uram)
    return LayerEstimate(
        layer.name,
        "conv",
        res,
        latency,
        ii,
        layer.io_type,
        fixed_cycles=latency,
        registered=True,
        fill_cycles=fill,
        details=details,
    )


def _same_pads(size: int, filt: int, stride: int) -> int:
    """Total Keras 'same' padding along one axis (left/top get half, rounded down)."""
    out = math.ceil(size / stride)
    return max((out - 1) * stride + filt - size, 0)


def _stream_padded_pixels(layer: ConvCost) -> int:
    """Pixels an io_stream convolution's loop visits: the padded image of a 'same' layer
    (hls4ml's ZeroPadding layer in front of a Conv1D/Conv2D, not of a depthwise one;
    hepinfer's kernel walks the padded grid itself).
    """
    if layer.padding != "same" or (layer.depthwise and layer.kernel == "hls4ml"):
        return layer.in_height * layer.in_width
    height = layer.in_height + _same_pads(layer.in_height, layer.filt_height, layer.stride_height)
    width = layer.in_width + _same_pads(layer.in_width, layer.filt_width, layer.stride_width)
    return height * width


def _conv_call_bound(layer: ConvCost, ctx: Context) -> bool:
    """Whether the pixel loop waits for each ``compute_output_buffer`` call (Vitis, line
    buffer, a real window: not a depthwise or 1x1 kernel, which hls4ml builds otherwise).
    """
    return (
        ctx.tool.stream_conv_call_ii
        and layer.kernel == "hls4ml"
        and layer.implementation == "linebuffer"
        and not layer.depthwise
        and layer.kernel_size > 1
    )


def _table_brams(lookups: int, size: int, bits: int) -> tuple[int, int]:
    """(BRAM18K, LUT) of ``lookups`` parallel reads of a ``size x bits`` ROM."""
    table_bits = size * bits
    if table_bits <= 4096:  # small tables become LUT ROM, one copy per lookup
        return 0, lookups * math.ceil(table_bits / 64)
    per_copy = math.ceil(table_bits / BRAM18_BITS)
    return per_copy * math.ceil(lookups / 2), 0


def _fifo(lanes: int, depth: int, width: int) -> Resources:
    """Output FIFOs of an io_stream layer: one per channel, ``depth`` = its output pixels
    (hls4ml's default stream depth). Deeper than 32 entries they take block RAM, otherwise
    shift-register LUTs (SRL32).
    """
    if depth <= 1:
        return Resources()
    if depth > 32:
        return Resources(lut=lanes * 8, ff=lanes * 40, bram18k=lanes * _bram18(width, depth))
    return Resources(lut=lanes * width, ff=lanes * 8)


SRL_FIFO_LUT_PER_BIT = 3.5
"""LUTs per bit of a one-word io_stream FIFO that Vivado HLS builds in shift registers (data,
write and read control). Fit on the ``split: fit`` pair of Vivado HLS 2020.1 baselines:
Dense(1 -> 64) + ReLU is 3,649 LUTs more in io_stream than in io_parallel, one 64 x 16-bit
FIFO plus two layers' stream control (`STREAM_CONTROL`): (3,649 - 120) / 1,024 = 3.45."""


def _one_word_fifo_lut(srl: bool, bits: int) -> int:
    """LUTs of a one-word output FIFO of ``bits``: Vivado HLS holds its data in shift-register
    LUTs (`SRL_FIFO_LUT_PER_BIT`, no flip-flops), Vitis in flip-flops with one LUT per bit.
    """
    return math.ceil(SRL_FIFO_LUT_PER_BIT * bits) if srl else bits


def _stream_pixels(n: int, n_chan: int | None) -> tuple[int, int]:
    chan = n if n_chan is None else min(n_chan, n)
    return chan, math.ceil(n / chan)


def _slope_kind(layer: ActivationCost) -> str:
    """How HLS builds the negative side of a constant-slope activation."""
    slope = layer.slope
    if layer.kind not in ("leaky_relu", "prelu") or slope is None:
        return "general" if layer.kind in ("leaky_relu", "prelu", "elu", "selu") else "select"
    if slope == 1.0:
        return "identity"  # x > 0 ? x : 1 * x is x: HLS removes the select
    if slope == 0.0:
        return "select"  # a ReLU
    if math.frexp(abs(slope))[0] == 0.5:
        return "shift"  # a power of two: wiring and, for a negative slope, a negation
    return "general"


def _select(
    layer: ActivationCost, inp: FixedType, out: FixedType, lanes: int, ctx: Context
) -> tuple[int, float]:
    """(LUTs, delay) of a ReLU-like activation: selects, and a constant product for slopes."""
    t = ctx.timing
    kind = _slope_kind(layer)
    if kind == "identity":
        return 0, 0.0
    lut = lanes * math.ceil(ctx.tool.select_lut_per_bit * out.width)
    if kind == "general":  # constant slope: shift-and-add
        return lut + lanes * (inp.width + 2), ctx.scaled(t.add_ns(inp.width) + t.compare_ns)
    if kind == "shift" and layer.slope is not None and layer.slope < 0:
        return lut + lanes * inp.width, ctx.scaled(t.add_ns(inp.width) + t.compare_ns)
    return lut, ctx.scaled(t.compare_ns)


def _activation(layer: ActivationCost, ctx: Context) -> LayerEstimate:
    t = ctx.timing
    inp = as_fixed(layer.input)
    out = fixed_or(layer.output, inp)
    stream = layer.io_type is IOType.STREAM
    lanes, pixels = _stream_pixels(layer.n, layer.n_chan) if stream else (layer.n, 1)
    dsp = bram = lut = ff = 0
    if layer.kind == "softmax":
        exp_bram, exp_lut = _table_brams(lanes, layer.table_size, layer.table_bits)
        inv_bram, inv_lut = _table_brams(1, layer.table_size, layer.table_bits)
        bram, lut = exp_bram + inv_bram, exp_lut + inv_lut
        mult = ctx.multipliers.variable_product(layer.table_bits, layer.table_bits)
        dsp, lut = lanes * mult.dsp, lut + lanes * mult.lut
        lut += (lanes - 1) * layer.table_bits + lanes * inp.width
        ff = 3 * lanes * layer.table_bits
        tree = ctx.scaled(tree_depth(lanes) * t.add_ns(layer.table_bits))
        t_mult = t.dsp_mult_ns if mult.dsp else t.lut_mult_ns
        depth = 2 * t.table_read_cycles + ctx.cycles(tree) + ctx.cycles(ctx.scaled(t_mult))
        comb, chainable = 0.0, False
    elif layer.kind in TABLE_ACTIVATIONS:
        bram, lut = _table_brams(lanes, layer.table_size, layer.table_bits)
        # index scaling, range clipping, output select; sigmoid and tanh index both signs
        # (a constant multiply by size/range, clipped at both ends): 10 LUTs per input bit,
        # 4.5 for the one-sided tables (ELU: a ReLU-like select, a shift and one clip). Fit
        # on the `split: fit` Dense(1 -> 64) + table baselines of Vivado HLS 2020.1 and
        # Vitis HLS 2023.1 (sigmoid 9.6 and 10.6, ELU 4.45 and 4.5 LUTs per bit)
        per_bit = 10.0 if layer.kind in ("sigmoid", "tanh") else 4.5
        lut += math.ceil(per_bit * lanes * inp.width)
        # io_parallel ELU/SELU also register the linear branch beside the table read
        both = layer.kind in ("elu", "selu") and not stream
        ff = (2 if both else 1) * lanes * out.width
        depth = t.table_read_cycles
        comb, chainable = 0.0, False
    else:
        lut, comb = _select(layer, inp, out, lanes, ctx)
        depth = 0
        chainable = not stream
    srl = ctx.tool.stream_fifo_in_srl
    details: dict[str, Any] = {"lanes": lanes, "pixels": pixels}
    if stream:
        ff += 0 if srl and pixels == 1 else lanes * out.width
        if pixels > 1:
            latency = pixels + t.stream_overhead_cycles + depth
            fill = t.stream_overhead_cycles + depth
            fifo = _fifo(lanes, pixels, out.width)
        else:
            latency = fill = depth
            fifo = Resources(lut=_one_word_fifo_lut(srl, lanes * out.width))
        lut, ff, bram = lut + fifo.lut, ff + fifo.ff, bram + fifo.bram18k
        details["output_fifo"] = {"lut": fifo.lut, "bram18k": fifo.bram18k}
        ii = pixels
    else:
        latency = fill = depth
        ii = 1
    return LayerEstimate(
        layer.name,
        layer.kind,
        Resources(dsp, lut, ff, bram, 0),
        latency,
        ii,
        layer.io_type,
        comb_ns=comb,
        fixed_cycles=depth,
        registered=not chainable,
        chainable=chainable,
        fill_cycles=fill,
        details=details,
    )


def _pool(layer: PoolCost, ctx: Context) -> LayerEstimate:
    t = ctx.timing
    inp = as_fixed(layer.input)
    window = layer.pool_height * layer.pool_width
    outputs = layer.out_height * layer.out_width * layer.n_chan
    stream = layer.io_type is IOType.STREAM
    lanes = layer.n_chan if stream else outputs
    if layer.op == "max":  # a tree of compare-and-select, each one ReLU-like select
        lut = lanes * (window - 1) * math.ceil(ctx.tool.select_lut_per_bit * inp.width)
        comb = ctx.scaled(tree_depth(window) * (t.add_ns(inp.width) * 0.5 + t.compare_ns))
    else:
        lut = lanes * (window - 1) * (inp.width + tree_depth(window))
        comb = ctx.scaled(tree_depth(window) * t.add_ns(inp.width + tree_depth(window)))
    depth = ctx.cycles(comb)
    if stream:
        pixels = layer.in_height * layer.in_width
        latency = pixels + t.stream_overhead_cycles + depth
        fill = t.stream_overhead_cycles + depth
        ii = pixels
        buffer_bits = (layer.pool_height - 1) * layer.in_width * layer.n_chan * inp.width
        lut += math.ceil(buffer_bits / 32)
        ff = lanes * window * inp.width
        fifo = _fifo(lanes, layer.out_height * layer.out_width, inp.width)
        return LayerEstimate(
            layer.name,
            f"{layer.op}_pool",
            Resources(0, lut, ff, 0, 0) + fifo,
            latency,
            ii,
            layer.io_type,
            fixed_cycles=latency,
            registered=True,
            fill_cycles=fill,
            details={"output_fifo": {"lut": fifo.lut, "bram18k": fifo.bram18k}},
        )
    return LayerEstimate(  # inlined and unregistered: the next stage holds its outputs
        layer.name,
        f"{layer.op}_pool",
        Resources(0, lut, 0, 0, 0),
        max(0, depth - 1),
        1,
        layer.io_type,
        comb_ns=comb,
        chainable=True,
        fill_cycles=max(0, depth - 1),
    )


def _batchnorm(layer: BatchNormCost, ctx: Context) -> LayerEstimate:
    t = ctx.timing
    inp = as_fixed(layer.input)
    scale = as_fixed(layer.scale)
    out = fixed_or(layer.output, inp)
    stream = layer.io_type is IOType.STREAM
    lanes, pixels = _stream_pixels(layer.n, layer.n_chan) if stream else (layer.n, 1)
    n_mult = math.ceil(lanes / layer.reuse_factor)
    cost = ctx.multipliers.variable_product(inp.width, scale.width)
    dsp, lut = n_mult * cost.dsp, n_mult * cost.lut
    if cost.kind is not ProductKind.DSP:
        lut += lanes * out.width  # bias adders outside DSP post-adders
    t_prod = t.dsp_mult_ns if cost.kind is ProductKind.DSP else t.lut_mult_ns
    comb = ctx.scaled(t_prod + t.add_ns(out.width))
    depth = ctx.cycles(comb)
    ff = lanes * out.width
    if stream:
        latency = pixels * layer.reuse_factor + t.stream_overhead_cycles + depth
        return LayerEstimate(
            layer.name,
            "batchnorm",
            Resources(dsp, lut, ff, 0, 0),
            latency,
            pixels * layer.reuse_factor,
            layer.io_type,
            fixed_cycles=latency,
            registered=True,
            fill_cycles=t.stream_overhead_cycles + depth,
        )
    if layer.reuse_factor > 1:
        latency = layer.reuse_factor - 1 + depth + 1
        return LayerEstimate(
            layer.name,
            "batchnorm",
            Resources(dsp, lut, ff, 0, 0),
            latency,
            layer.reuse_factor,
            layer.io_type,
            fixed_cycles=latency,
            registered=True,
            fill_cycles=latency,
        )
    registered = lanes > t.inline_products
    return LayerEstimate(
        layer.name,
        "batchnorm",
        Resources(dsp, lut, ff, 0, 0),
        depth if registered else max(0, depth - 1),
        1,
        layer.io_type,
        comb_ns=comb,
        registered=registered,
        chainable=not registered,
        fill_cycles=depth,
    )


def _elementwise(layer: ElementwiseCost, ctx: Context) -> LayerEstimate:
    t = ctx.timing
    inp = as_fixed(layer.input)
    stream = layer.io_type is IOType.STREAM
    lanes, pixels = _stream_pixels(layer.n, layer.n_chan) if stream else (layer.n, 1)
    dsp = lut = 0
    comb = 0.0
    if layer.op in ("add", "subtract", "average"):
        lut = lanes * (inp.width + 1)
        comb = ctx.scaled(t.add_ns(inp.width + 1))
    elif layer.op in ("maximum", "minimum"):
        lut = lanes * inp.width
        comb = ctx.scaled(t.add_ns(inp.width) * 0.5 + t.compare_ns)
    elif layer.op == "multiply":
        cost = ctx.multipliers.variable_product(inp.width, inp.width)
        dsp, lut = lanes * cost.dsp, lanes * cost.lut
        comb = ctx.scaled(t.dsp_mult_ns if cost.dsp else t.lut_mult_ns)
    if stream:
        depth = ctx.cycles(comb)
        latency = pixels + t.stream_overhead_cycles + depth
        return LayerEstimate(
            layer.name,
            layer.op,
            Resources(dsp, lut, lanes * inp.width, 0, 0),
            latency,
            pixels,
            layer.io_type,
            fixed_cycles=latency,
            registered=True,
            fill_cycles=t.stream_overhead_cycles + depth,
        )
    return LayerEstimate(
        layer.name,
        layer.op,
        Resources(dsp, lut, 0, 0, 0),
        max(0, ctx.cycles(comb) - 1),
        1,
        layer.io_type,
        comb_ns=comb,
        chainable=True,
    )


def _recurrent(layer: RecurrentCost, ctx: Context) -> LayerEstimate:
    """One step's parts costed by their own models, held once; the steps run in sequence.

    Step latency: the two Dense products (in parallel), the gate activations, the candidate
    activation, the state update (a multiply-add, one cycle) and, for an LSTM, the cell
    state's activation and the output product (one more cycle).
    """
    out = fixed_or(layer.output, as_fixed(layer.input))
    acc = fixed_or(layer.accum, out)
    g, n = layer.gates, layer.n_state
    common: dict[str, Any] = {"accum": acc, "output": acc, "reuse_factor": layer.reuse_factor}
    # the recurrent product's weight types (its own, hls4ml's recurrent_weight_t)
    state_weight = layer.recurrent_weight or layer.weight
    state_bias = layer.recurrent_bias or layer.bias
    products = [
        _dense(
            DenseCost(
                name=f"{layer.name}_x",
                n_in=layer.n_in,
                n_out=g * n,
                input=layer.input,
                weights=layer.weights,
                weight=layer.weight,
                bias=layer.bias,
                **common,
            ),
            ctx,
        ),
        _dense(
            DenseCost(
                name=f"{layer.name}_h",
                n_in=n,
                n_out=g * n,
                input=out,
                weights=layer.recurrent_weights,
                weight=state_weight,
                bias=state_bias,
                **common,
            ),
            ctx,
        ),
    ]
    acts = [(layer.activation, n * (2 if g == 4 else 1))]
    if g > 1:
        acts.append((layer.recurrent_activation, (g - 1) * n))
    activations = [
        _activation(
            ActivationCost(
                name=f"{layer.name}_{kind}",
                kind=kind,
                n=count,
                input=acc,
                output=acc,
                table_size=layer.table_size,
                table_bits=layer.table_bits,
            ),
            ctx,
        )
        for kind, count in acts
    ]
    mults = ctx.multipliers.variable_product(acc.width, out.width)
    update = Resources(
        dsp=2 * n * mults.dsp, lut=2 * n * (mults.lut + out.width), ff=2 * n * out.width
    )
    resources = sum((e.resources for e in (*products, *activations)), update)
    step = (
        max(e.latency_cycles for e in products)
        + sum(e.latency_cycles for e in activations)
        + (3 if g == 4 else 2)
    )
    latency = layer.n_timesteps * max(step, 1)
    return LayerEstimate(
        layer.name,
        "recurrent",
        resources,
        latency,
        latency,
        layer.io_type,
        fixed_cycles=latency,
        registered=True,
        fill_cycles=latency,
        details={"step_cycles": max(step, 1), "n_timesteps": layer.n_timesteps},
    )


_DISPATCH: dict[type, Callable[[Any, Context], LayerEstimate]] = {
    DenseCost: _dense,
    ConvCost: _conv,
    ActivationCost: _activation,
    PoolCost: _pool,
    BatchNormCost: _batchnorm,
    ElementwiseCost: _elementwise,
    RecurrentCost: _recurrent,
}


STREAM_CONTROL = Resources(lut=60, ff=40)
"""FIFO handshake and loop control an io_stream layer adds around its datapath."""


def estimate_layer(layer: object, ctx: Context) -> LayerEstimate:
    """Cost one layer description with the model of its operator."""
    func = _DISPATCH.get(type(layer))
    if func is None:
        known = ", ".join(t.__name__ for t in _DISPATCH)
        msg = (
            f"cannot estimate {type(layer).__name__} {layer!r}; describe the layer with one "
            f"of {known} (hepinfer.estimate.layers)"
        )
        raise EstimateError(msg)
    est = func(layer, ctx)
    if est.io_type is IOType.STREAM:
        est = replace(est, resources=est.resources + STREAM_CONTROL)
    return est
