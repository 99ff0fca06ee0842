"""hepinfer's knobs as enums, defined once: hls4ml's `Strategy` and `IOType`, and the
emulator's `Engine` and `Mode` and the C simulation's `Headers`.

The configuration (`hepinfer.config`), the operators' cost hooks (`hepinfer.ops.cost`), the
estimator, the emulator, the C simulation and the command line all use these enums. Their spellings ("Latency", "resource",
"io_stream", ...) are read only at the I/O edge (YAML and hls4ml-style dicts, the command
line, node attributes and reports loaded from JSON) through `parse`, which accepts the value
or the member name in any case. Members are `StrEnum` members whose value is hls4ml's
spelling, so they are written to YAML, JSON and HLS projects as they are.

A leaf module (standard library and `hepinfer.errors` only), so that the light command-line
modules can import it without the compiler.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from hepinfer.errors import ConfigError

__all__ = ["Engine", "Headers", "IOType", "Mode", "Strategy"]


class _Knob(StrEnum):
    @classmethod
    def parse(cls, value: object, where: str = "") -> Self:
        """The member named by ``value`` (a member, its value or its name, any case).

        ConfigError (naming ``where`` and the accepted spellings) for anything else.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value in cls._value2member_map_:  # the exact spelling
            return cls(value)
        text = str(value).strip().lower()
        for member in cls:
            if text in (str(member.value).lower(), member.name.lower()):
                return member
        place = f"{where}: " if where else ""
        values = [m.value for m in cls]
        msg = f"{place}{value!r} is not one of {values}; write one of them (any case)"
        raise ConfigError(msg)


class Strategy(_Knob):
    """hls4ml's implementation strategy of multiplying layers.

    ``LATENCY``: weights are constants in the fabric, the layer one pipelined function;
    ``RESOURCE``: weights in block RAM, a loop of ``reuse_factor`` iterations.
    """

    LATENCY = "Latency"
    RESOURCE = "Resource"


class IOType(_Knob):
    """hls4ml's interface type.

    ``PARALLEL`` (io_parallel): whole tensors as wires, the model one pipeline;
    ``STREAM`` (io_stream): one pixel per transfer through FIFOs, layers in a dataflow.
    """

    PARALLEL = "io_parallel"
    STREAM = "io_stream"


class Engine(_Knob):
    """The emulator's engine for the fixed-point kernels (every engine gives the same bits).

    ``AUTO``: the native C++ Dense kernel where a layer's types allow it and g++ is there,
    numpy otherwise; ``NUMPY``: numpy only; ``NATIVE``: like ``AUTO``, but a missing compiler
    or a failed build is an error instead of a silent fallback.
    """

    AUTO = "auto"
    NUMPY = "numpy"
    NATIVE = "native"


class Mode(_Knob):
    """What the emulator computes: ``FIXED``, the firmware's bits; ``FLOAT``, the float64
    reference (the framework's maths).
    """

    FIXED = "fixed"
    FLOAT = "float"


class Headers(_Knob):
    """The ``ap_types`` headers the C simulation compiles with.

    ``AUTO``: Xilinx's where found (``$XILINX_HLS``, or the copy in the hls4ml wheel), else
    hepinfer's; ``XILINX``: Xilinx's or an error; ``HEPINFER``: hepinfer's own.
    """

    AUTO = "auto"
    XILINX = "xilinx"
    HEPINFER = "hepinfer"
