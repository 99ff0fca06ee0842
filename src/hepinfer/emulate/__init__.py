"""The bit-exact emulator: runs a compiled graph on a batch, in fixed point or in float."""

from hepinfer.emulate.run import emulate, emulate_fixed, emulate_float

__all__ = ["emulate", "emulate_fixed", "emulate_float"]
