"""Shared machinery of hls4ml's table-based activations (sigmoid, tanh, ...).

hls4ml fills a table of `table_size` entries over a fixed input range `[-r, r)` and indexes it
with `index = int(x * table_size / (2 r)) + table_size / 2`, clipped to the table; the
integer conversion truncates toward zero, like C++. Table values are computed in float and
assigned to the table type (default `ap_fixed<18,8>`), the output is `(res_T) table[index]`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import HlsError, RtlError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FloatArray, FxArray, IntArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count, need_exact, sizes

DEFAULT_TABLE = FixedType(18, 8)
DEFAULT_TABLE_SIZE = 1024


def table_type(node: Node) -> FixedType:
    """The node's table type, hls4ml's default `ap_fixed<18,8>` when unset."""
    return node.precision.table or DEFAULT_TABLE


def dyadic_scale(size: int, span: float) -> tuple[int, int]:
    """`size / span` as the exact `(num, shift)` with value `num * 2**-shift` (every float is)."""
    num, den = (size / span).as_integer_ratio()
    return num, den.bit_length() - 1


def exact_index(t: FixedType, size: int, span: float) -> bool:
    """Whether the index of `t`'s values is formed in integers (`t`'s mantissa times the
    scale's numerator fits in 62 bits): always, for power-of-two table sizes and spans.
    """
    num, _ = dyadic_scale(size, span)
    return num.bit_length() + t.width + 1 <= 62


def table_index(x: FxArray, size: int, span: float) -> IntArray:
    """`int(x * size / span) + size / 2` clipped to [0, size - 1] (truncation toward zero).

    With the exact scale `num * 2**-shift`: `|m| * num` shifted down by `shift + frac`, signed
    (what the C++ forms by bit slicing and shifts).
    """
    num, shift = dyadic_scale(size, span)
    if exact_index(x.t, size, span):
        mag = np.abs(x.m) * np.int64(num)
        down = shift + x.t.frac
        q = mag >> down if down >= 0 else mag << -down
        idx = np.where(x.m < 0, -q, q)
    else:
        idx = np.trunc(x.to_float() * (size / span)).astype(np.int64)
    out: IntArray = np.clip(idx + size // 2, 0, size - 1).astype(np.int64)
    return out


def build_table(
    fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]], size: int, span: float, t: FixedType
) -> IntArray:
    """Mantissas of `fn` at hls4ml's table points `span * (i - size/2) / size`."""
    i = np.arange(size, dtype=np.float32)
    x = (np.float32(span) * (i - np.float32(size / 2.0)) / np.float32(size)).astype(np.float32)
    return t.to_mantissa(fn(x).astype(np.float64))


#: the widest input type whose every mantissa gets its own entry in `lookup_function`'s
#: cached map (2**18 entries, 2 MiB); wider inputs form the table index per value
DIRECT_MAP_BITS = 18


def lookup_function(
    fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    size: int,
    span: float,
    table_t: FixedType,
    t_in: FixedType,
    result: FixedType,
) -> Callable[[IntArray], IntArray]:
    """The table activation from mantissas of `t_in` to mantissas of `result`, resolved once
    (for loops that apply it many times): the table, already cast to `result` (as
    `lut_rtl`'s ROM), is built once per types; for inputs of up to `DIRECT_MAP_BITS` bits
    the function is one `take` from a map of every input mantissa (also built once), else
    the table index is formed per value (`table_index`).
    """
    rom, direct = _maps(fn, size, span, table_t, t_in, result)
    if direct is not None:
        low = np.int64(t_in.min_mantissa)
        table = direct

        def mapped(m: IntArray) -> IntArray:
            out: IntArray = np.take(table, m - low)
            return out

        return mapped

    def indexed(m: IntArray) -> IntArray:
        out: IntArray = rom[table_index(FxArray(m, t_in), size, span)]
        return out

    return indexed


#: at most 64 cached (table, map) pairs: 128 MiB at the widest direct maps
@functools.lru_cache(maxsize=64)
def _maps(
    fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    size: int,
    span: float,
    table_t: FixedType,
    t_in: FixedType,
    result: FixedType,
) -> tuple[IntArray, IntArray | None]:
    """The table cast to `result`, and (narrow inputs) its value at every mantissa of `t_in`
    in order from the smallest; read-only (cached).
    """
    rom = result.cast_mantissa(build_table(fn, size, span, table_t), table_t)
    rom.flags.writeable = False
    if t_in.width > DIRECT_MAP_BITS:
        return rom, None
    every = np.arange(t_in.min_mantissa, t_in.max_mantissa + 1, dtype=np.int64)
    direct = np.ascontiguousarray(rom[table_index(FxArray(every, t_in), size, span)])
    direct.flags.writeable = False
    return rom, direct


def lut_fixed(
    node: Node,
    x: FxArray,
    fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    span: float,
    result: FixedType,
) -> FxArray:
    """Apply a table-based activation bit-exactly (the table read, then cast to `result`:
    `lookup_function`'s cached table and map).
    """
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    return FxArray(lookup_function(fn, size, span, table_type(node), x.t, result)(x.m), result)


def lut_interval(
    node: Node,
    lo: FloatArray,
    hi: FloatArray,
    fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    span: float,
    limits: tuple[float, float],
) -> tuple[FloatArray, FloatArray]:
    """Bounds of a table-based increasing activation on [lo, hi]: the index truncates toward
    zero (table points within one table step of x) and clips to the table's ends; table
    values are within one step of the table type of `fn`, and inside `limits`.
    """
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    step = span / size
    ends = (-span / 2, span / 2 - step)
    x_lo = np.clip(lo - step, *ends).astype(np.float32)
    x_hi = np.clip(hi + step, *ends).astype(np.float32)
    q = 2.0 ** -table_type(node).frac
    out_lo = np.clip(fn(x_lo).astype(np.float64) - q, *limits)
    out_hi = np.clip(fn(x_hi).astype(np.float64) + q, *limits)
    return out_lo, out_hi


def lowering(
    node: Node,
    inputs: Sequence[TensorType],
    fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    span: float,
) -> Lowering:
    """The `lut` kernel call of a table-based activation: its table (built by `build_table`,
    as the emulator's) and the index arithmetic's constants.
    """
    inputs_count(node, inputs, 1, "HLS")
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    table_t = table_type(node)
    table = build_table(fn, size, span, table_t)
    x = fixed(node, inputs[0])
    need_exact(x, f"the input of {node.name!r}")
    if not exact_index(x, size, span):
        msg = (
            f"{node.op.value} {node.name!r}: table_size {size} over span {span} with input type "
            f"{x} needs a table index wider than 62 bits; use a power-of-two table_size"
        )
        raise HlsError(msg)
    num, shift = dyadic_scale(size, span)
    consts = {
        **sizes(node, inputs),
        "table_size": str(size),
        "scale_num": str(num),
        "scale_bits": str(num.bit_length()),
        "index_shift": str(shift + x.frac),
    }
    arrays = (HlsArray("table", "table", table_t, table),)
    return Lowering("lut", consts, {"table_t": table_t}, arrays, same_width=True)


def lut_rtl(
    node: Node,
    net: Netlist,
    xs: Sequence[Val],
    fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    span: float,
    result: FixedType,
) -> list[Val]:
    """The table activation as logic: the index `trunc(x * size / span) + size / 2` (a constant
    product by the scale's numerator and a shift truncating toward zero, `table_index`),
    clipped to the table, reads a ROM that holds the table already cast to `result` (the same
    bits as `lut_fixed`).
    """
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    table = build_table(fn, size, span, table_type(node))
    rom = result.cast_mantissa(table, table_type(node))
    num, shift = dyadic_scale(size, span)
    if num.bit_length() > 48:
        msg = (
            f"node {node.name!r} ({node.op.value}): table_size / span = {size / span} has a "
            f"{num.bit_length()}-bit numerator, too wide for the RTL index; use a power-of-two "
            "table_size"
        )
        raise RtlError(msg)
    outs = []
    for v in xs:
        idx = arith.trunc_scale(net, v, num, shift + v.frac)
        idx = arith.clip(net, net.add(idx, net.const(size // 2, 0), "idx"), 0, size - 1)
        outs.append(net.rom(idx, [int(r) for r in rom], result.frac, "lut"))
    return outs


def lut_native(
    node: Node,
    x: FixedType,
    fn: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    span: float,
    result: FixedType,
) -> tuple[int, int, int, IntArray] | None:
    """The table activation as a step of the native program (`hepinfer.emulate.program`):
    `(num, down, size, rom)` where the index of a mantissa `m` of `x` is `sign(m) * (|m| *
    num >> down)` (`<< -down` when negative) plus `size / 2`, clipped, and `rom` is the table
    of `build_table` already cast to `result` (as `lut_rtl`'s ROM: the same bits as
    `lut_fixed`). None where the index would not be formed exactly in 62 bits.
    """
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    num, shift = dyadic_scale(size, span)
    down = shift + x.frac
    if x.width > 62 or num.bit_length() + x.width + max(0, -down) > 61:
        return None
    t = table_type(node)
    rom = result.cast_mantissa(build_table(fn, size, span, t), t)
    return num, down, size, rom
