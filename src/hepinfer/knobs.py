"""hls4ml's implementation knobs as enums, defined once: `Strategy` and `IOType`.

The configuration (`hepinfer.config`), the operators' cost hooks (`hepinfer.ops.cost`), the
estimator and the command line all use these enums. Their spellings ("Latency", "resource",
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

__all__ = ["IOType", "Strategy"]


class _Knob(StrEnum):
    @classmethod
    def parse(cls, value: object, where: str = "") -> Self:
        """The member named by ``value`` (a member, its value or its name, any case).

        ConfigError (naming ``where`` and the accepted spellings) for anything else.
        """
        if isinstance(value, cls):
            return value
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
