"""Latency rules of each HLS tool generation (issue 20).

The same C++ gives different schedules in different tools: Vivado HLS 2019.2/2020.1 chains
more logic into one cycle than its delay model would suggest (its published reports give
lower latencies than the generic model), Vitis HLS 2023+ registers the address of table
lookups and runs io_stream dataflow processes one after the other (a process starts again
only once it has finished, so the II of a small stream design is its latency), and Vitis HLS
2025 registers every level of an adder tree and every DSP stage. Each generation is one
frozen `ToolRules`; `estimate_layers(..., tool=...)` applies it and the report states it.

The rules were set on the fit anchors (``anchors.yaml`` and the ``split: fit`` entries of
``anchors_published.yaml``) and on the published figures quoted in hepinfer issue 20;
``benchmarks/bench_estimate_cv.py`` reports the error on the held-out anchors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hepinfer.errors import EstimateError
from hepinfer.estimate.timing import Timing

__all__ = ["DEFAULT_TOOL", "TOOLS", "ToolRules", "tool_rules"]


@dataclass(frozen=True)
class ToolRules:
    """How one HLS generation schedules hls4ml-style firmware.

    - ``delay_scale``: factor on the chained delays of the io_parallel top function before
      they are cut into cycles (operator chaining: below 1, the tool packs more logic into
      a cycle);
    - ``table_read_cycles``: cycles of a lookup-table activation (registered data, plus a
      registered address from Vitis 2024 on);
    - ``stream_process_ii``: io_stream dataflow processes do not overlap with themselves
      (Vitis): a one-word layer's II is its latency plus one handshake cycle, and the model
      latency gains ``stream_handshake_cycles``; a layer that loops over its pixels bounds
      the II by its trip count times its loop II, and the model latency is Vitis's dataflow
      estimate, the latest finish of a process started when its producer writes its first
      word (``model.compose_latency``);
    - ``stream_loop_ii``: an io_stream layer that loops over its pixels (II > 1) is a
      dataflow process that is not pipelined across calls: its II is its latency plus one
      (Vivado HLS 2020.1's pixel loops: a 1,027-cycle convolution gives II 1,028);
    - ``stream_conv_call_ii``: an io_stream convolution's pixel loop calls hls4ml's
      ``compute_output_buffer_{1d,2d}`` (``INLINE OFF``), whose window and counters are
      ``static``: Vitis passes them through the called module's ports, so a call cannot start
      before the previous one has written them back and the loop's II is the call's latency
      (one output pixel's depth) when that exceeds the reuse factor. Vitis HLS 2024.1 on the
      Conv1D 128x9 -> 16 network of hepinfer issue 20 ('same' padding: hls4ml's inserted
      ZeroPadding1D makes 130 input pixels): ``compute_output_buffer_1d`` latency 3, II 3,
      the convolution process 393 cycles, the design II 390 = 130 x 3;
    - ``stream_fifo_in_srl``: io_stream's one-word FIFOs between layers hold their data in
      shift-register LUTs (Vivado HLS: ``operators.SRL_FIFO_LUT_PER_BIT`` per bit, no
      flip-flops) instead of flip-flops (Vitis);
    - ``latency_reuse_chained``: a Latency-strategy dense layer with R > 1 in io_parallel
      takes R - 1 cycles for its shared products and chains its adder tree with its
      neighbours like an R = 1 layer (Vivado HLS 2019.2: the jet tagger at R = 2 in 12
      cycles, fewer than the generic R - 1 + tree + 1 per layer);
    - ``reuse_ii_by_uses``: a Latency-strategy dense layer with R > 1 and known weights is
      scheduled over as many cycles as its busiest shared multiplier has products (the
      ``mul`` operations, shifts and adds left out, over ``multiplier_limit``), and its II is
      that count when below R (Vivado HLS 2020.1, the 75 %-pruned MLP 4-128-3 at R = 16 of
      hepinfer issue 20: 84 products on 8 multipliers, II 11; 72 on 6, II 12; design II 12);
    - ``register_tree_levels``: every adder-tree level and the DSP's ``dsp_stages`` pipeline
      registers take a cycle each (Vitis 2025), instead of chaining them by delay;
    - ``select_lut_per_bit``: LUTs per output bit of a compare-and-select (ReLU, one max of a
      max pooling), as HLS reports them. Vitis: 2.4, from the ``split: fit`` pairs of Vitis
      HLS 2023.1 baselines (Dense(1 -> 64) + ReLU minus Dense(1 -> 64) + LeakyReLU(alpha=1),
      an identity: 2,459 LUTs in io_parallel, 2,453 in io_stream, for 64 x 16 bits); Vivado
      HLS: 2.1, from the fit anchor ``dense_1x64_relu_parallel`` (2,224 LUTs less the
      modelled Dense, over 1,024 bits).
    """

    name: str
    label: str
    delay_scale: float = 1.0
    table_read_cycles: int = 2
    stream_process_ii: bool = False
    stream_handshake_cycles: int = 0
    stream_loop_ii: bool = False
    stream_conv_call_ii: bool = False
    stream_fifo_in_srl: bool = False
    latency_reuse_chained: bool = False
    reuse_ii_by_uses: bool = False
    register_tree_levels: bool = False
    dsp_stages: int = 3
    select_lut_per_bit: float = 2.4

    def timing(self, base: Timing | None = None) -> Timing:
        """The operator timing of this generation (``base``'s constants, this tool's rules)."""
        base = base or Timing()
        return replace(
            base,
            table_read_cycles=self.table_read_cycles,
            delay_scale=base.delay_scale * self.delay_scale,
        )


TOOLS: dict[str, ToolRules] = {
    rules.name: rules
    for rules in (
        ToolRules(
            "vitis-2025",
            "Vitis HLS 2025.1",
            table_read_cycles=3,
            stream_process_ii=True,
            stream_handshake_cycles=1,
            stream_conv_call_ii=True,
            register_tree_levels=True,
        ),
        ToolRules(
            "vitis-2024",
            "Vitis HLS 2024.1",
            table_read_cycles=3,
            stream_process_ii=True,
            stream_handshake_cycles=1,
            stream_conv_call_ii=True,
        ),
        ToolRules(
            "vitis-2023",
            "Vitis HLS 2023.1",
            table_read_cycles=3,
            stream_process_ii=True,
            stream_handshake_cycles=1,
            stream_conv_call_ii=True,
        ),
        ToolRules(
            "vivado-hls-2020",
            "Vivado HLS 2020.1",
            delay_scale=0.45,
            stream_loop_ii=True,
            stream_fifo_in_srl=True,
            latency_reuse_chained=True,
            reuse_ii_by_uses=True,
            select_lut_per_bit=2.1,
        ),
        ToolRules(
            "vivado-hls-2019",
            "Vivado HLS 2019.2",
            delay_scale=0.45,
            stream_loop_ii=True,
            stream_fifo_in_srl=True,
            latency_reuse_chained=True,
            reuse_ii_by_uses=True,
            select_lut_per_bit=2.1,
        ),
        # the hls4ml paper's Vivado HLS 2017-2018: the generic chaining (one anchor only)
        ToolRules("vivado-hls-2018", "Vivado HLS 2017.2-2018.2"),
    )
}
DEFAULT_TOOL = "vitis-2025"


def tool_rules(tool: str | ToolRules | None = None) -> ToolRules:
    """The rules of ``tool`` (a name of `TOOLS`, or rules themselves); None: `DEFAULT_TOOL`."""
    if isinstance(tool, ToolRules):
        return tool
    name = DEFAULT_TOOL if tool is None else str(tool).strip().lower()
    rules = TOOLS.get(name)
    if rules is None:
        msg = f"tool {tool!r} is unknown; use one of {', '.join(TOOLS)}"
        raise EstimateError(msg)
    return rules
