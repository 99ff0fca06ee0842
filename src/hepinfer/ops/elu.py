"""ELU: `x >= 0 ? x : alpha * (exp(x) - 1)`, table-based like hls4ml's `elu` (table of
`exp(-8 i / N) - 1` for i < N, index `int(x * N / -8)` clipped to N - 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Interval, envelope, held, one
from hepinfer.ops.fxarray import FxArray, product_type
from hepinfer.ops.lut import DEFAULT_TABLE_SIZE, table_type


def _alpha(node: Node) -> float:
    return float(node.attrs.get("alpha", 1.0))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    return np.where(x >= 0, x, _alpha(node) * np.expm1(np.minimum(x, 0)))


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tr, tt, tw = need(node, "result"), table_type(node), need(node, "weight")
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    i = np.arange(size, dtype=np.float32)
    values = (np.exp(np.float32(-8.0) * i / np.float32(size)) - np.float32(1.0)).astype(np.float64)
    table = tt.to_mantissa(values)
    num = -x.m * size  # x * N / -8 at x's fractional bits, truncated toward zero
    den = 8 << x.t.frac if x.t.frac >= 0 else 8
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


def interval(node: Node, inputs: Sequence[Interval]) -> Interval:
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


SPEC = OpSpec(Op.ELU, same_shape, run_float, run_fixed, ("weight", "result", "table"), "ELU")
