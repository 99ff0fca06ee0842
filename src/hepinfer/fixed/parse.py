"""Parse fixed-point type strings: `ap_fixed<16,6,AP_RND,AP_SAT>`, `fixed<18,8,RND,SAT>`, ...

Grammar (whitespace anywhere, the `ap_` prefix and the `AP_` of mode names optional, mode names
case-insensitive)::

    [ap_]fixed<W,I[,Q[,O[,N]]]>     signed fixed point
    [ap_]ufixed<W,I[,Q[,O[,N]]]>    unsigned fixed point
    [ap_]int<W>                     signed integer (I = W)
    [ap_]uint<W>                    unsigned integer (I = W)
"""

from __future__ import annotations

import re

from hepinfer.errors import FixedPointError
from hepinfer.fixed.modes import Overflow, Quant
from hepinfer.fixed.types import FixedType

_TYPE_RE = re.compile(r"^\s*(?P<kind>[A-Za-z_]\w*)\s*<(?P<args>[^<>]*)>\s*$")
_KINDS = {
    # kind -> (signed, is_integer)
    "fixed": (True, False),
    "ufixed": (False, False),
    "int": (True, True),
    "uint": (False, True),
}
_INT_RE = re.compile(r"^[+-]?\d+$")


def _int_arg(text: str, what: str, source: str) -> int:
    if not _INT_RE.match(text):
        msg = f"{what} {text!r} in fixed-point type {source!r} is not an integer"
        raise FixedPointError(msg)
    return int(text)


def parse_type(text: str) -> FixedType:
    """Parse a fixed-point type string into a `FixedType` (see the module docstring)."""
    raw: object = text
    if not isinstance(raw, str):
        msg = f"a fixed-point type string is needed, got {text!r}"
        raise FixedPointError(msg)
    source = text.strip()
    match = _TYPE_RE.match(text)
    if match is None:
        msg = (
            f"cannot parse fixed-point type {source!r}: expected a form like "
            "'ap_fixed<16,6>', 'ap_fixed<16,6,AP_RND,AP_SAT>', 'ap_ufixed<8,0>' or 'ap_int<8>'"
        )
        raise FixedPointError(msg)
    kind = match["kind"].lower().removeprefix("ap_")
    if kind not in _KINDS:
        msg = (
            f"unknown fixed-point kind {match['kind']!r} in {source!r}; expected ap_fixed, "
            "ap_ufixed, ap_int or ap_uint (the 'ap_' prefix is optional)"
        )
        raise FixedPointError(msg)
    signed, is_int = _KINDS[kind]
    args = [a.strip() for a in match["args"].split(",")]
    if is_int:
        if len(args) != 1 or not args[0]:
            msg = f"{match['kind']}<W> takes exactly one argument (the width), got {source!r}"
            raise FixedPointError(msg)
        width = _int_arg(args[0], "width", source)
        return FixedType(width, width, signed)
    if not 2 <= len(args) <= 5 or any(not a for a in args):
        msg = (
            f"{match['kind']}<W,I[,Q[,O[,N]]]> takes 2 to 5 non-empty arguments, got "
            f"{len(args)} in {source!r}"
        )
        raise FixedPointError(msg)
    width = _int_arg(args[0], "width W", source)
    integer = _int_arg(args[1], "integer bits I", source)
    quant = Quant.parse(args[2]) if len(args) > 2 else Quant.TRN
    overflow = Overflow.parse(args[3]) if len(args) > 3 else Overflow.WRAP
    sat_bits = _int_arg(args[4], "saturation bits N", source) if len(args) > 4 else 0
    return FixedType(width, integer, signed, quant, overflow, sat_bits)
