"""UnaryLUT: a table of a function on every value of its input's type (hls4ml 1.3's `unary_lut`,
HGQ2's `QUnaryFunctionLUT`).

`weights["table"]` holds `N` (a power of two) values indexed by the input's bit pattern: the
input's value times `2**index_frac` (its `attrs["index_frac"]`, the input quantiser's
fractional bits), taken modulo `N` (two's complement: the non-negative values first, then the
negative ones, as hls4ml orders the table). Each value is held in the table's exact type
(`table_type`: the smallest that holds every entry) and assigned to `result_t`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types, weight
from hepinfer.ops.bounds import Bounds, Interval, full, one
from hepinfer.ops.cost import ActivationCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count, sizes


def _table(node: Node) -> FloatArray:
    table = np.asarray(weight(node, "table"), dtype=np.float64).ravel()
    n = table.size
    if n < 1 or n & (n - 1):
        msg = (
            f"UnaryLUT {node.name!r}: its table has {n} entries; it needs a power of two (one "
            "entry per value of the input's type)"
        )
        raise GraphError(msg)
    return table


def index_frac(node: Node) -> int:
    """The fractional bits of the values the table is indexed by."""
    return int(node.attrs.get("index_frac", 0))


#: id(node) -> (the node, its table type): one search per node
_TYPES: dict[int, tuple[Node, FixedType]] = {}


def table_type(node: Node) -> FixedType:
    """The smallest fixed-point type that holds every table entry exactly (hls4ml's `table_t`)."""
    hit = _TYPES.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    if len(_TYPES) > 256:
        _TYPES.clear()
    t = _smallest_type(node)
    _TYPES[id(node)] = (node, t)
    return t


def _smallest_type(node: Node) -> FixedType:
    table = _table(node)
    frac = 0
    while not np.array_equal(np.ldexp(table, frac), np.round(np.ldexp(table, frac))):
        frac += 1
        if frac > 60:
            msg = f"UnaryLUT {node.name!r}: table entries are not short dyadic fractions"
            raise GraphError(msg)
    m = np.ldexp(table, frac).astype(np.int64)
    signed = bool((m < 0).any())
    mag = int(max(int(m.max(initial=0)), int(-m.min(initial=0)) - 1, 0))
    width = max(mag.bit_length() + int(signed), 1)
    return FixedType(width, width - frac, signed)


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    _table(node)
    return tuple(inputs[0].shape)


def _index(codes: np.ndarray, size: int) -> np.ndarray:
    out: np.ndarray = np.bitwise_and(codes.astype(np.int64), size - 1)
    return out


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    """The table entry of each input value (rounded to the table's grid)."""
    table = _table(node)
    codes = np.floor(np.ldexp(np.asarray(xs[0], dtype=np.float64), index_frac(node)) + 0.5)
    out: FloatArray = table[_index(codes, table.size)]
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    """The input's bits at `index_frac` fractional bits, modulo the table size, select the
    entry, assigned to `result_t`.
    """
    x = xs[0]
    table = _table(node)
    tt, tr = table_type(node), need(node, "result")
    drop = x.t.frac - index_frac(node)
    codes = x.m >> drop if drop >= 0 else x.m << -drop
    entries = tt.to_mantissa(table)[_index(codes, table.size)]
    return FxArray(tr.cast_mantissa(entries, tt), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured result."""
    del inputs
    return result_types(node)


def exact_result(node: Node, inputs: Sequence[FixedType]) -> FixedType:
    """The result of a `bit_exact` node (HGQ2 models): the table's exact type."""
    del inputs
    return table_type(node)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Anywhere between the table's smallest and largest entries."""
    lo, _ = one(node, inputs)
    table = _table(node)
    return full(np.shape(lo), float(table.min()), float(table.max()))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`unary_lut`: the input's mantissa shifted to `index_frac` fractional bits, its low
    `log2 N` bits index the table (in `table_t`).
    """
    inputs_count(node, inputs, 1, "HLS")
    x = fixed(node, inputs[0])
    table = _table(node)
    tt = table_type(node)
    consts = {
        **sizes(node, inputs),
        "table_size": str(table.size),
        "index_shift": str(x.frac - index_frac(node)),
    }
    arrays = (HlsArray("table", "table", tt, tt.to_mantissa(table)),)
    return Lowering("unary_lut", consts, {"table_t": tt}, arrays, same_width=True)


SPEC = OpSpec(Op.UNARY_LUT, shape, run_float, run_fixed, ("result",), "UnaryLUT")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A lookup of the `N`-entry table per output element (a ROM of `table_t` values)."""
    return [
        ActivationCost(
            name=node.name,
            kind="embedding",
            n=costing.size(node),
            n_chan=int(node.out.shape[-1]),
            input=ctx.input,
            output=node.precision.result,
            table_size=int(_table(node).size),
            table_bits=table_type(node).width,
            io_type=ctx.io_type,
        )
    ]
