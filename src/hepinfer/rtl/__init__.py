"""Firmware proven with open tools: Verilog for io_parallel models, cycle-accurate simulation
with Verilator, and synthesis with Yosys.

- `build(graph, clock_period=..., pipeline=...)` -> `RtlDesign` (the Verilog and its
  manifest); `write(design, dir)` writes it with a testbench, a file list and `manifest.json`;
- `simulate(design, mantissas)` streams a batch through Verilator (`rtl.sim`);
- `synthesise(design, part, jobs=1)` runs Yosys `synth_xilinx` (`rtl.synth`); with `jobs` > 1
  on the design cut at its pipeline registers (`rtl.pieces`), that many Yosys runs at once.

`CompiledModel.write_verilog`, `.rtlsim` and `.synth` are the user-facing calls.
"""

from hepinfer.rtl.design import Port, RtlDesign, build, supported_ops, write
from hepinfer.rtl.sim import RtlSimResult, simulate
from hepinfer.rtl.synth import SynthReport, synthesise

__all__ = [
    "Port",
    "RtlDesign",
    "RtlSimResult",
    "SynthReport",
    "build",
    "simulate",
    "supported_ops",
    "synthesise",
    "write",
]
