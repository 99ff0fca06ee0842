"""SELU: `x >= 0 ? lambda x : lambda alpha (exp(x) - 1)`, like hls4ml's `nnet::selu`.

The positive branch multiplies by `lambda` held in `ap_ufixed<16,1>` (hls4ml's `selu_const_t`,
so 1.0507009873554805 truncated to 15 fractional bits) at full precision, cast to `result_t`;
the negative branch reads a table of `lambda alpha (exp(-8 i / N) - 1)` (float, as hls4ml's
`selu_fcn_float`) at index `int(x * N / -8)` clipped to [0, N - 1], cast to `result_t`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, IntArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, envelope, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count, need_exact, sizes
from hepinfer.ops.lut import DEFAULT_TABLE_SIZE, table_type

#: the table covers inputs in (-SPAN, 0] (hls4ml's range)
SPAN = 8
LAMBDA = 1.0507009873554804934193349852946
ALPHA = 1.6732632423543772848170429916717
#: hls4ml's `selu_const_t` holding lambda in the positive branch
LAMBDA_TYPE = FixedType(16, 1, signed=False)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    x = xs[0]
    out: FloatArray = LAMBDA * np.where(x >= 0, x, ALPHA * np.expm1(np.minimum(x, 0.0)))
    return out


def negative_index(x: FxArray, size: int) -> IntArray:
    """hls4ml's `int(x * N / -8)` (truncation toward zero), clipped to [0, size - 1]: the
    mantissa times N, negated, shifted down by log2(8) + x's fractional bits (exact for every
    F, also negative; the C++ forms it by the same shifts).
    """
    num = -x.m * size
    down = SPAN.bit_length() - 1 + x.t.frac
    mag = np.abs(num)
    q = mag >> down if down >= 0 else mag << -down
    out: IntArray = np.clip(np.where(num < 0, -q, q), 0, size - 1)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tr, tt = need(node, "result"), table_type(node)
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    table = tt.to_mantissa(table_values(size))
    lam = int(LAMBDA_TYPE.to_mantissa(np.array([LAMBDA]))[0])
    pos = tr.cast_mantissa(x.m * lam, product_type(LAMBDA_TYPE, x.t))
    neg = tr.cast_mantissa(table[negative_index(x, size)], tt)
    return FxArray(np.where(x.m >= 0, pos, neg), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t` and the table type (hls4ml's default when unset)."""
    del inputs
    tr, precision = result_types(node)
    return tr, dataclasses.replace(precision, table=table_type(node))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Increasing: lambda * x above 0 (lambda as held, below 1.0508), the table in
    [-lambda alpha, 0] within one step of the table type below 0.
    """
    lo, hi = one(node, inputs)
    step = 2.0 ** -table_type(node).frac
    floor = -LAMBDA * ALPHA - step
    at_lo = np.where(lo >= 0, lo * LAMBDA, np.maximum(LAMBDA * ALPHA * np.expm1(lo), floor) - step)
    at_hi = np.where(hi >= 0, hi * 1.0508, 0.0)
    return envelope([at_lo, at_hi, np.maximum(at_lo, floor)])


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`selu`: the table of `table_values`; lambda is a constant of the kernel."""
    inputs_count(node, inputs, 1, "HLS")
    x = fixed(node, inputs[0])
    need_exact(x, f"the input of {node.name!r}")
    tt = table_type(node)
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    consts = {**sizes(node, inputs), "table_size": str(size), "data_frac": str(x.frac)}
    arrays = (HlsArray("table", "table", tt, tt.to_mantissa(table_values(size))),)
    return Lowering("selu", consts, {"table_t": tt}, arrays, same_width=True)


def table_values(size: int) -> FloatArray:
    """hls4ml's SELU table: `lambda (alpha (exp(-8 i / size) - 1))` in double, as a float."""
    i = np.arange(size, dtype=np.float32)
    x = np.float32(-SPAN) * i / np.float32(size)
    e = np.exp(x).astype(np.float64)
    out: FloatArray = (LAMBDA * (ALPHA * (e - 1.0))).astype(np.float32).astype(np.float64)
    return out


SPEC = OpSpec(Op.SELU, same_shape, run_float, run_fixed, ("result", "table"), "Activation")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A selu table lookup per output element (table size and type from the node)."""
    return costing.activation(node, ctx, "selu")
