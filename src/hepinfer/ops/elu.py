"""ELU: `x >= 0 ? x : alpha * (exp(x) - 1)`, table-based like hls4ml's `elu` (table of
`exp(-8 i / N) - 1` for i < N, index `int(x * N / -8)` clipped to N - 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hepinfer.errors import HlsError, RtlError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, envelope, held, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.leaky_relu import sign_select
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count, need_exact, sizes
from hepinfer.ops.lut import DEFAULT_TABLE_SIZE, table_type

#: the table covers inputs in (-SPAN, 0] (hls4ml's range)
SPAN = 8.0


def _alpha(node: Node) -> float:
    return float(node.attrs.get("alpha", 1.0))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    return np.where(x >= 0, x, _alpha(node) * np.expm1(np.minimum(x, 0)))


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tr, tt, tw = need(node, "result"), table_type(node), need(node, "weight")
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    table = tt.to_mantissa(table_values(size))
    num = -x.m * size  # x * N / -SPAN at x's fractional bits, truncated toward zero
    span = int(SPAN)
    den = span << x.t.frac if x.t.frac >= 0 else span
    q = np.abs(num) // den
    idx = np.clip(np.where(num < 0, -q, q), 0, size - 1)
    alpha = int(tw.to_mantissa(np.array([_alpha(node)]))[0])
    neg = tr.cast_mantissa(table[idx] * alpha, product_type(tt, tw))
    return FxArray(np.where(x.m >= 0, tr.cast_mantissa(x.m, x.t), neg), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t`, `weight_t` (alpha), and the table type (hls4ml's default when unset)."""
    del inputs
    tr, precision = result_types(node, ("weight", "result"))
    return tr, dataclasses.replace(precision, table=table_type(node))


def weight_values(node: Node) -> FloatArray:
    """The values the kernel holds in `weight_t` (alpha), as `auto` weight types size them."""
    return np.array([_alpha(node)], dtype=np.float64)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """`x >= 0 ? x : alpha * table(x)`: the table holds `exp(x) - 1` at points no further from
    0 than x, in [-1, 0] within one step of the table type.
    """
    lo, hi = one(node, inputs)
    alpha = float(held(weight_values(node), node.precision.weight)[0])
    step = 2.0 ** -table_type(node).frac
    neg_lo = np.where(lo < 0, np.maximum(np.expm1(np.minimum(lo, 0.0)), -1.0) - step, 0.0)
    neg = [alpha * neg_lo, np.zeros_like(lo)]
    pos = [np.where(lo >= 0, lo, 0.0), np.maximum(hi, 0.0)]
    has_neg, has_pos = lo < 0, hi >= 0
    cands = [np.where(has_neg, v, pos[0]) for v in neg] + [
        np.where(has_pos, v, neg[0]) for v in pos
    ]
    return envelope(cands)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`elu`: alpha in `weight_t` and the table of `exp(x) - 1` (`table_values`)."""
    inputs_count(node, inputs, 1, "HLS")
    x = fixed(node, inputs[0])
    need_exact(x, f"the input of {node.name!r}")
    tw, tt = need(node, "weight"), table_type(node)
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    if size & (size - 1):
        msg = f"ELU {node.name!r}: table_size {size} must be a power of two for the HLS kernel"
        raise HlsError(msg)
    # int(x * size / -SPAN): -x's mantissa shifted down (the emulator divides by SPAN << frac)
    down = int(SPAN).bit_length() - 1 + max(x.frac, 0) - (size.bit_length() - 1)
    consts = {**sizes(node, inputs), "table_size": str(size), "index_shift": str(down)}
    arrays = (
        HlsArray("a", "weight", tw, tw.to_mantissa(weight_values(node))),
        HlsArray("table", "table", tt, tt.to_mantissa(table_values(size))),
    )
    types = {"weight_t": tw, "table_t": tt}
    return Lowering("elu", consts, types, arrays, same_width=True)


def table_values(size: int) -> FloatArray:
    """hls4ml's ELU table: `exp(-SPAN * i / size) - 1` for i < size, in float32 like the C++."""
    i = np.arange(size, dtype=np.float32)
    e = np.exp(np.float32(-SPAN) * i / np.float32(size)) - np.float32(1.0)
    out: FloatArray = e.astype(np.float64)
    return out


SPEC = OpSpec(Op.ELU, same_shape, run_float, run_fixed, ("weight", "result", "table"), "ELU")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A elu table lookup per output element (table size and type from the node)."""
    return costing.activation(node, ctx, "elu")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """`run_fixed` as logic: the index `trunc(-x * N / SPAN)` (a constant product and a shift
    truncating toward zero) clipped to the table addresses a ROM holding `alpha * table`
    already cast to `result_t`; the sign of `x` selects it or `x` cast to `result_t`.
    """
    tr, tt, tw = need(node, "result"), table_type(node), need(node, "weight")
    tx = fixed(node, inputs[0])
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    table = tt.to_mantissa(table_values(size))
    alpha = int(tw.to_mantissa(np.array([_alpha(node)]))[0])
    rom = tr.cast_mantissa(table * alpha, product_type(tt, tw))
    span = int(SPAN)
    outs = []
    den = span << tx.frac if tx.frac >= 0 else span
    for v in xs[0]:
        x = net.rescale(v, tx.frac)  # the index is formed on the mantissa of the input type
        if den & (den - 1):
            msg = f"ELU {node.name!r}: the RTL index needs a power-of-two span, not {SPAN}"
            raise RtlError(msg)
        idx = arith.trunc_scale(net, x, -size, den.bit_length() - 1)
        idx = arith.clip(net, idx, 0, size - 1)
        neg = net.rom(idx, [int(r) for r in rom], tr.frac, "elu")
        outs.append(sign_select(net, x, arith.cast(net, x, tr), neg, strict=False))
    return outs
