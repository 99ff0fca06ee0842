"""Timing constants of the latency model and the helpers that turn delays into cycles.

Delays are for UltraScale+ at speed grade -2, as Vivado/Vitis HLS schedules them; a part's
``speed_scale`` (``parts.yaml``) stretches them for slower families (Kintex UltraScale 1.2,
7-series 1.3-1.4). HLS keeps a clock uncertainty margin (12.5 % of the period by default), so
a stage must fit in ``clock_period * (1 - clock_uncertainty)``.

The constants were set once against the whole anchor set (``anchors.yaml``), not per anchor:

- a multiplication in a DSP slice, including its post-adder: ``dsp_mult_ns`` (2.0 ns);
- a LUT multiplier: ``lut_mult_ns`` (2.2 ns); a shift-and-add constant product: one adder;
- an adder of ``w`` bits (carry chain plus routing): ``add_base_ns + add_ns_per_bit * w``
  (0.9 + 0.06 w ns: 1.86 ns at 16 bits);
- a comparator plus multiplexer (ReLU, max pooling): ``compare_ns`` (0.4 ns);
- a lookup table in block RAM: ``table_read_cycles`` (2: registered address and data);
- ``delay_scale``: a factor on the chained delays of an io_parallel top function before
  they are cut into cycles, set by the tool generation (`hepinfer.estimate.tools`: Vivado
  HLS chains more logic into a cycle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Timing"]


@dataclass(frozen=True)
class Timing:
    """Operator delays and scheduling constants of the latency model (module docstring)."""

    dsp_mult_ns: float = 2.0
    lut_mult_ns: float = 2.2
    add_base_ns: float = 0.9
    add_ns_per_bit: float = 0.06
    compare_ns: float = 0.4
    table_read_cycles: int = 2
    clock_uncertainty: float = 0.125
    stream_overhead_cycles: int = 2
    inline_products: int = 128
    unroll_limit: int = 4096
    delay_scale: float = 1.0  # io_parallel chaining of the tool generation (estimate.tools)

    def add_ns(self, width: int) -> float:
        """Delay of one adder of ``width`` bits."""
        return self.add_base_ns + self.add_ns_per_bit * width

    def usable_ns(self, clock_period: float) -> float:
        """Time per cycle HLS lets logic use (period minus the uncertainty margin)."""
        return clock_period * (1.0 - self.clock_uncertainty)

    def cycles(self, delay_ns: float, clock_period: float) -> int:
        """Clock periods a combinational delay spans (0 for no logic)."""
        if delay_ns <= 0.0:
            return 0
        return max(1, math.ceil(delay_ns / self.usable_ns(clock_period) - 1e-9))


def tree_depth(terms: int) -> int:
    """Levels of a balanced adder tree summing ``terms`` values (0 for one value)."""
    return 0 if terms <= 1 else math.ceil(math.log2(terms))
