"""Exact integer netlists for the RTL generator (`hepinfer.rtl`): signals with ranges and
pipeline stages (`core`), and fixed-point casts and constant products over them (`arith`).

The op modules lower themselves with these primitives (their `rtl` hooks); `hepinfer.rtl`
walks the graph and writes, simulates and synthesises the module.
"""

from hepinfer.netlist.core import DelayModel, MultiplierRule, Netlist, Val

__all__ = ["DelayModel", "MultiplierRule", "Netlist", "Val"]
