"""Quantisation and overflow modes with Xilinx `ap_fixed` semantics.

The names and meanings are those of Vitis HLS (`ap_decl.h`): quantisation decides what happens
to bits below the least significant bit of the target type, overflow what happens to values
outside its range. Both apply only when a value is cast to a declared type.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from hepinfer.errors import FixedPointError


class Quant(enum.Enum):
    """Quantisation (rounding) mode of a cast, as in Xilinx `ap_q_mode`."""

    TRN = "TRN"  #: truncate toward minus infinity (the default)
    TRN_ZERO = "TRN_ZERO"  #: truncate toward zero
    RND = "RND"  #: round to nearest, ties toward plus infinity
    RND_ZERO = "RND_ZERO"  #: round to nearest, ties toward zero
    RND_INF = "RND_INF"  #: round to nearest, ties away from zero
    RND_MIN_INF = "RND_MIN_INF"  #: round to nearest, ties toward minus infinity
    RND_CONV = "RND_CONV"  #: round to nearest, ties to even (convergent rounding)

    @property
    def ap_name(self) -> str:
        """The C++ enumerator, e.g. `AP_RND_CONV`."""
        return f"AP_{self.value}"

    @classmethod
    def parse(cls, text: str) -> Quant:
        """Parse `AP_RND`, `RND` or `rnd` (case-insensitive, `AP_` prefix optional)."""
        return _parse_mode(cls, text, "quantisation")


class Overflow(enum.Enum):
    """Overflow mode of a cast, as in Xilinx `ap_o_mode` (without `AP_WRAP_SM`)."""

    WRAP = "WRAP"  #: keep the low bits (two's complement wrap-around; the default)
    SAT = "SAT"  #: saturate to the minimum or maximum
    SAT_ZERO = "SAT_ZERO"  #: set to zero on overflow
    SAT_SYM = "SAT_SYM"  #: saturate symmetrically: signed minimum is -maximum

    @property
    def ap_name(self) -> str:
        """The C++ enumerator, e.g. `AP_SAT_SYM`."""
        return f"AP_{self.value}"

    @classmethod
    def parse(cls, text: str) -> Overflow:
        """Parse `AP_SAT`, `SAT` or `sat` (case-insensitive, `AP_` prefix optional)."""
        return _parse_mode(cls, text, "overflow")


_M = TypeVar("_M", Quant, Overflow)


def _parse_mode(cls: type[_M], text: str, what: str) -> _M:
    name = text.strip().upper()
    name = name.removeprefix("AP_")
    try:
        return cls(name)
    except ValueError:
        choices = ", ".join(m.ap_name for m in cls)
        hint = " (AP_WRAP_SM is not supported)" if name == "WRAP_SM" else ""
        msg = f"unknown {what} mode {text.strip()!r}{hint}; expected one of {choices}"
        raise FixedPointError(msg) from None
