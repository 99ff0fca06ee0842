"""Whole-model estimates: cost every layer, then compose latency and II by io type.

**io_parallel** (one pipelined top function): layers whose logic HLS inlines (ReLU-like
activations, pooling, merges, small dense layers) chain their combinational delay into the
neighbouring logic; every other layer is a function with registered outputs. The chain of a
registered layer and the inlined layers after it spans ``ceil(delay / usable clock)`` cycles
(one less when nothing in it is registered) plus its fixed cycles (loops, table reads).
The model latency is the sum over these groups; II is the largest layer II.

**io_stream** (a dataflow of layers joined by FIFOs): layers overlap, so the latency is that
of the slowest layer plus the pipeline fill of every other layer, and II is the largest
layer II (the bottleneck). The tool rules refine both (`hepinfer.estimate.tools`): in
Vitis a one-word process restarts only when done, and the latency is Vitis's dataflow
estimate, each process starting when its producer writes its first word.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace

from hepinfer.errors import EstimateError
from hepinfer.estimate.diagnostics import OverUtilisationWarning
from hepinfer.estimate.layers import (
    ConvCost,
    DenseCost,
    ElementwiseCost,
    LayerCost,
    PoolCost,
    RecurrentCost,
    as_fixed,
)
from hepinfer.estimate.liveness import with_live_products
from hepinfer.estimate.multipliers import MultiplierModel
from hepinfer.estimate.operators import Context, estimate_layer
from hepinfer.estimate.parts import Part, get_part
from hepinfer.estimate.report import RESOURCE_KEYS, Estimate, LayerEstimate, Resources
from hepinfer.estimate.timing import Timing
from hepinfer.estimate.tools import ToolRules, tool_rules
from hepinfer.knobs import IOType

__all__ = ["compose_latency", "estimate_layers"]


def compose_latency(
    layers: Sequence[LayerEstimate],
    clock_period: float,
    timing: Timing | None = None,
    tool: str | ToolRules | None = None,
) -> tuple[int, int]:
    """Model latency (cycles) and II from per-layer estimates (module docstring)."""
    timing = timing or Timing()
    rules = tool_rules(tool)
    if not layers:
        return 0, 1
    ii = max(1, *(lay.ii for lay in layers))
    if any(lay.io_type is IOType.STREAM for lay in layers):
        slowest = max(range(len(layers)), key=lambda i: layers[i].latency_cycles)
        latency = layers[slowest].latency_cycles + sum(
            lay.fill_cycles for i, lay in enumerate(layers) if i != slowest
        )
        if rules.stream_loop_ii:
            # pixel loops are processes that are not pipelined across calls
            ii = max(ii, *(lay.latency_cycles + 1 for lay in layers if lay.ii > 1), 1)
        if rules.stream_process_ii:
            # Vitis: a dataflow process starts again only once it has finished; a process
            # that loops over its pixels is bounded by its trip count times its loop II (the
            # layer's `ii`); its latency estimate is the latest finish of a process started
            # when its producer writes its first word
            if len(layers) == 1:
                # one process: no dataflow network, so no channel handshake; the top
                # function is that process, a sequential function (ap_ctrl_hs) that
                # starts again the cycle after ap_done: II = its latency + 1
                latency = layers[0].latency_cycles
                return latency, max(ii, latency + 1)
            latency, start = 0, 0
            for lay in layers:
                latency = max(latency, start + lay.latency_cycles)
                start += lay.fill_cycles
            latency += rules.stream_handshake_cycles
            ii = max(lay.ii if lay.ii > 1 else lay.latency_cycles + 1 for lay in layers)
            ii = min(ii, latency)
        return latency, ii
    total = 0
    comb = 0.0
    fixed = 0
    registered = False
    started = False
    for lay in layers:
        if lay.chainable:
            comb += lay.comb_ns
            started = True
            continue
        if started:
            total += _group_cycles(comb, fixed, registered, clock_period, timing)
        comb, fixed, registered, started = lay.comb_ns, lay.fixed_cycles, lay.registered, True
    if started:
        total += _group_cycles(comb, fixed, registered, clock_period, timing)
    return total, ii


def _group_cycles(
    comb: float, fixed: int, registered: bool, clock_period: float, timing: Timing
) -> int:
    spans = timing.cycles(comb * timing.delay_scale, clock_period)
    return fixed + (spans if registered else max(0, spans - 1))


def _top_port(last: LayerEstimate) -> LayerEstimate:
    """The last io_stream layer writes the top function's output port, not a FIFO.

    Its output stream is the design's interface (``ap_fifo`` / AXI stream): no FIFO memory or
    FIFO control LUTs of its own (its output registers stay). On hls4ml's Vitis HLS 2023.1
    baselines (``split: fit``), Dense(1 -> 64) + ReLU costs 1,115 LUTs more in io_stream
    than in io_parallel: one 64 x 16-bit FIFO between the two layers, not two.
    """
    fifo = last.details.get("output_fifo")
    if last.io_type is not IOType.STREAM or not fifo:
        return last
    res = last.resources
    port = Resources(
        res.dsp,
        max(0, res.lut - int(fifo["lut"])),
        res.ff,
        max(0, res.bram18k - int(fifo["bram18k"])),
        res.uram,
    )
    return replace(last, resources=port)


INPUT_REGISTER_CONTROL_FF = 2
"""Flip-flops of the io_parallel top function's block control beside its input register."""


def _input_elements(layer: object) -> int:
    if isinstance(layer, DenseCost):
        return layer.n_in
    if isinstance(layer, ConvCost | PoolCost):
        return layer.in_height * layer.in_width * layer.n_chan
    if isinstance(layer, RecurrentCost):
        return layer.n_in * layer.n_timesteps
    if isinstance(layer, ElementwiseCost):
        return 2 * layer.n
    return int(getattr(layer, "n", 0))


def _input_register(first: LayerEstimate, layer: object) -> LayerEstimate:
    """The io_parallel top function pipelined at II 1 registers its input array (and 2 bits).

    hls4ml's synthesis baselines count exactly ``inputs x width + 2`` flip-flops for designs
    with no registers of their own: Dense(1 -> 64) + ReLU (``split: fit``): 1 x 16 + 2 = 18;
    it is the whole FF count of the held-out io_parallel pooling baselines too (18x15x3 and
    121x3 inputs at 16 bits: 12,962 and 5,810). A design whose II is above 1 reads its input
    port over its loop instead: the fit Conv2D Resource design (28x28x3 inputs, II 49) counts
    8,601 flip-flops in all in Vitis HLS 2024.1, fewer than its 37,632 input bits.
    """
    bits = _input_elements(layer) * as_fixed(getattr(layer, "input", 16)).width
    ff = bits + INPUT_REGISTER_CONTROL_FF
    details = {**first.details, "input_register_ff": ff}
    return replace(first, resources=first.resources + Resources(ff=ff), details=details)


def estimate_layers(
    layers: Iterable[LayerCost],
    part: str | Part = "xcu250",
    clock_period: float = 5.0,
    *,
    clock_uncertainty: float | None = None,
    timing: Timing | None = None,
    multipliers: MultiplierModel | None = None,
    tool: str | ToolRules | None = None,
) -> Estimate:
    """Estimate DSP, LUT, FF, BRAM18K, URAM, latency and II of a model on ``part``.

    ``layers`` are the model's layer descriptions in execution order
    (`hepinfer.estimate.layers`); ``clock_period`` is in ns. Warnings
    (`UnrollLimitWarning`, `OverUtilisationWarning`) are emitted with the ``warnings``
    module and also recorded in `Estimate.warnings`. ``tool`` is the HLS generation whose
    scheduling rules apply (`hepinfer.estimate.tools.TOOLS`; default `DEFAULT_TOOL`, the
    current Vitis); the estimate records it.
    """
    if not clock_period > 0:
        msg = f"clock_period {clock_period!r} ns is invalid; give a positive period in ns"
        raise EstimateError(msg)
    device = get_part(part)
    rules = tool_rules(tool)
    timing = rules.timing(timing)
    if clock_uncertainty is not None:
        if not 0.0 <= clock_uncertainty < 1.0:
            msg = f"clock_uncertainty {clock_uncertainty!r} must be a fraction in [0, 1)"
            raise EstimateError(msg)
        timing = Timing(**{**timing.__dict__, "clock_uncertainty": clock_uncertainty})
    mults = multipliers or MultiplierModel(dsp_slice=device.dsp_slice)
    notes: list[tuple[str, type[Warning]]] = []
    ctx = Context(device, clock_period, timing, mults, notes, rules)
    layers = with_live_products(tuple(layers))
    estimates = tuple(estimate_layer(layer, ctx) for layer in layers)
    if estimates:
        estimates = (*estimates[:-1], _top_port(estimates[-1]))
    latency, ii = compose_latency(estimates, clock_period, timing, rules)
    if estimates and estimates[0].io_type is IOType.PARALLEL and ii == 1:
        estimates = (_input_register(estimates[0], layers[0]), *estimates[1:])
    total = Resources()
    for lay in estimates:
        total = total + lay.resources
    capacity = device.capacity()
    used = total.as_dict()
    for key in RESOURCE_KEYS:
        if used[key] > capacity[key]:
            have = f"{capacity[key]:,}" if capacity[key] else "none"
            ctx.warn(
                f"the design needs {used[key]:,} {key.upper()} but {device.name} has {have}; "
                "raise the reuse factor, use the Resource strategy, lower the precision, "
                "or pick a larger part",
                OverUtilisationWarning,
            )
    for message, category in notes:
        warnings.warn(message, category, stacklevel=2)
    return Estimate(
        layers=estimates,
        part=device,
        clock_period=clock_period,
        total=total,
        latency_cycles=latency,
        ii=ii,
        warnings=tuple(message for message, _ in notes),
        tool=rules.name,
    )
