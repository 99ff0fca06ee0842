"""Softmax over the last axis, with hls4ml's table-based fixed-point implementations.

`attrs["implementation"]`: `stable` (default, as in hls4ml), `latency` or `argmax`, as in hls4ml
(nnet_activation.h). Tables have `attrs['table_size']` entries (default 1024); the table type
`table` defaults to `ap_fixed<18,8,RND,SAT>` (hls4ml's `exp_table_t` and `inv_table_t`), the
accumulator to the table type widened by `ceil(log2(n))` bits. `attrs["exp_scale"]` (default 1)
scales the input inside the exponential (`exp(exp_scale * x)`: the table holds the scaled
values, as HGQ2's `input_scaler`; Keras' MultiHeadAttention's 1/sqrt(key_dim)).

The kernels reproduce the C++ bit for bit: a table index is the top `log2(table_size)` bits of
the input's bit pattern; the exponential table holds `exp(x)` of the value those bits encode
(computed in float32, like the C++ `float`), the inverse table `1/x` of the exponent sum's top
bits; the result is `exp_table[i] * inv_table[sum]` assigned to `result_t`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray, IntArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, full, one, unsigned_result
from hepinfer.ops.cost import LayerCost, NodeContext, PoolCost
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count, need_exact, sizes

IMPLEMENTATIONS = ("latency", "stable", "argmax")
DEFAULT_TABLE = FixedType(18, 8, True, Quant.RND, Overflow.SAT)
DEFAULT_TABLE_SIZE = 1024


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    """softmax(exp_scale * x) over the last axis (the scale as float32, as the tables')."""
    x = xs[0] * float(np.float32(float(node.attrs.get("exp_scale", 1.0))))
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: FloatArray = e / e.sum(axis=-1, keepdims=True)
    return out


def _rows(m: IntArray, fn: np.ufunc) -> IntArray:
    """`fn.reduce` over the last axis, keeping it (exact; column by column when rows are
    short, where numpy's row-wise reduction is slow).
    """
    if m.shape[-1] > 16 or m.shape[-1] == 0:
        out: IntArray = fn.reduce(m, axis=-1, keepdims=True)
        return out
    acc = m[..., :1].copy()
    for j in range(1, m.shape[-1]):
        fn(acc, m[..., j : j + 1], out=acc)
    return acc


def _index(m: IntArray, t: FixedType, bits: int) -> IntArray:
    """The top `bits` bits of the bit pattern of mantissas `m` of type `t`, as unsigned."""
    pattern = m & ((1 << t.width) - 1)
    shift = t.width - bits
    return pattern >> shift if shift >= 0 else pattern << -shift


def _index_values(t: FixedType, bits: int) -> FloatArray:
    """Value encoded by each index: top `bits` bits set to the index, the rest zero."""
    idx = np.arange(1 << bits, dtype=np.int64)
    pattern = idx << (t.width - bits) if t.width >= bits else idx >> (bits - t.width)
    if t.signed:
        pattern = np.where(pattern >= (1 << (t.width - 1)), pattern - (1 << t.width), pattern)
    return np.asarray(t.from_mantissa(pattern), dtype=np.float64)


def _table_size(node: Node, *types: FixedType) -> int:
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    size = min(size, *(1 << t.width for t in types))
    if size & (size - 1):
        msg = f"Softmax {node.name!r}: table_size {size} must be a power of two"
        raise GraphError(msg)
    return size


def types(node: Node, data: FixedType) -> tuple[FixedType, FixedType, FixedType]:
    """(table type, accumulator type, exponent-sum type) of the node, with hls4ml defaults."""
    table = node.precision.table or DEFAULT_TABLE
    n = node.out.shape[-1]
    scale = math.ceil(math.log2(n)) if n > 1 else 0
    accum = node.precision.accum or FixedType(
        table.width + scale, table.integer + scale, table.signed
    )
    del data
    return table, accum, table


def exp_inv_tables(
    node: Node, data: FixedType, table: FixedType, inv_inp: FixedType, negative: bool, size: int
) -> tuple[IntArray, IntArray]:
    """Mantissas (in `table`) of the exponential table over `size` index values of `data`
    (negated for the stable kernel) and of the inverse table over those of `inv_inp`.
    """
    bits = size.bit_length() - 1
    scale = np.float32(float(node.attrs.get("exp_scale", 1.0)))
    x = (_index_values(data, bits).astype(np.float32) * scale).astype(np.float32)
    if negative:
        x = -x
    with np.errstate(over="ignore"):
        exp_table = table.to_mantissa(np.exp(x).astype(np.float64))
    inv_x = _index_values(inv_inp, bits).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = (np.float32(1.0) / inv_x).astype(np.float64)
    inv = np.where(np.isinf(inv), np.sign(inv) * 1e300, inv)
    return exp_table, table.to_mantissa(inv)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tr = need(node, "result")
    impl = str(node.attrs.get("implementation", "stable"))
    if impl == "argmax":
        out = np.zeros_like(x.m)
        np.put_along_axis(out, np.argmax(x.m, axis=-1)[..., None], 1, axis=-1)
        return FxArray(tr.to_mantissa(out.astype(np.float64)), tr)
    table, accum, inv_inp = types(node, x.t)
    if impl == "stable":
        in_bits = x.t.width - int(x.t.signed)
        norm = FixedType(in_bits, x.t.integer - int(x.t.signed), signed=False)
        size_exp = (
            min(_table_size(node, table), 1 << in_bits) if x.t.signed else _table_size(node, table)
        )
        diff = _rows(x.m, np.maximum) - x.m
        data_t, data_m = norm, norm.cast_mantissa(diff, x.t)
        negative = True
    elif impl == "latency":
        size_exp = _table_size(node, table, x.t)
        data_t, data_m, negative = x.t, x.m, False
    else:
        msg = f"Softmax {node.name!r}: implementation {impl!r} is not one of {IMPLEMENTATIONS}"
        raise GraphError(msg)
    size_inv = _table_size(node, table, x.t)
    exp_tab, _ = exp_inv_tables(node, data_t, table, inv_inp, negative, size_exp)
    _, inv_tab = exp_inv_tables(node, inv_inp, table, inv_inp, negative, size_inv)
    exp_res = accum.cast_mantissa(exp_tab[_index(data_m, data_t, size_exp.bit_length() - 1)], table)
    total = _rows(exp_res, np.add)[..., 0]
    wide = FixedType(64, 64 - accum.frac, True)
    exp_sum = inv_inp.cast_mantissa(accum.cast_mantissa(total, wide), accum)
    inv = inv_tab[_index(exp_sum, inv_inp, size_inv.bit_length() - 1)]
    prod = exp_res * inv[..., None]
    return FxArray(tr.cast_mantissa(prod, product_type(accum, table)), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t`, and the table and accumulator types with their defaults (`types`)."""
    n_inputs(node, inputs, 1)
    table, accum, _ = types(node, inputs[0])
    tr, precision = result_types(node)
    return tr, dataclasses.replace(precision, table=table, accum=accum)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """[0, 1] for `argmax`. The table kernels give `exp_i * inv(sum)`, the sum truncated to the
    inverse table's index (a step of `2**(I_table - index_bits)`, index bits from the input's
    type, 1 when unknown) and inv(0) saturating at the table's maximum M. Every exp_i <= sum:
    a truncated sum of at least one step gives at most 2 (plus rounding), a sum truncated to 0
    at most `exp_i * M < step * M`. `stable`: exp_i <= 1 and sum >= 1, so with a step of at
    most 1 the output is at most 1 (plus the inverse table's rounding).
    """
    x = one(node, inputs)
    shape = x.lo.shape
    impl = str(node.attrs.get("implementation", "stable"))
    if impl == "argmax":
        return full(shape, 0.0, 1.0)
    table = node.precision.table or DEFAULT_TABLE
    q = 2.0**-table.frac
    t_max = float(table.max)
    size = _table_size(node, table, x.fixed) if x.fixed is not None else 2
    step = 2.0 ** (table.integer - (size.bit_length() - 1))
    if impl == "stable":
        if step <= 1.0:
            return full(shape, 0.0, 1.0 + q)
        return full(shape, 0.0, max(2.0 + 2 * q, min(1.0, step) * t_max))
    return full(shape, 0.0, max(2.0 + 2 * t_max * q, step * t_max))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`softmax`: the exponential and inverse tables (`exp_inv_tables`, as the emulator's)
    and their index geometry, per implementation.
    """
    inputs_count(node, inputs, 1, "HLS")
    impl = str(node.attrs.get("implementation", "stable"))
    x = fixed(node, inputs[0])
    need_exact(x, f"the input of {node.name!r}")
    table, accum, inv_inp = types(node, x)
    base = sizes(node, inputs)
    # the exact sum of a row of accum_t values: accum_t with ceil(log2(n)) more integer bits
    grow = math.ceil(math.log2(node.out.shape[-1])) if node.out.shape[-1] > 1 else 0
    wide = FixedType(accum.width + grow, accum.integer + grow, accum.signed)
    if impl == "argmax":
        consts = {**base, "implementation": "hepinfer::softmax_argmax"}
        for key in ("exp_size", "inv_size", "exp_bits", "inv_bits"):
            consts[key] = "1"
        typedefs = {"table_t": table, "accum_t": accum, "inv_in_t": table, "norm_t": x}
        zero = np.zeros(1, dtype=np.int64)
        arrays = (HlsArray("exp", "table", table, zero), HlsArray("inv", "table", table, zero))
        return Lowering("softmax", consts, {**typedefs, "wide_t": wide}, arrays, pixel_input=True)
    if impl == "stable":
        in_bits = x.width - int(x.signed)
        data_t = FixedType(in_bits, x.integer - int(x.signed), signed=False)
        size_exp = _table_size(node, table)
        if x.signed:
            size_exp = min(size_exp, 1 << in_bits)
        negative = True
    elif impl == "latency":
        data_t = x
        size_exp = _table_size(node, table, x)
        negative = False
    else:
        msg = f"Softmax {node.name!r}: implementation {impl!r} is not one of {IMPLEMENTATIONS}"
        raise HlsError(msg)
    size_inv = _table_size(node, table, x)
    exp_tab, _ = exp_inv_tables(node, data_t, table, inv_inp, negative, size_exp)
    _, inv_tab = exp_inv_tables(node, inv_inp, table, inv_inp, negative, size_inv)
    need_exact(inv_inp, f"the exponent sum of {node.name!r}")
    consts = {
        **base,
        "implementation": f"hepinfer::softmax_{impl}",
        "exp_size": str(size_exp),
        "inv_size": str(size_inv),
        "exp_bits": str(size_exp.bit_length() - 1),
        "inv_bits": str(size_inv.bit_length() - 1),
    }
    typedefs = {
        "table_t": table,
        "accum_t": accum,
        "inv_in_t": inv_inp,
        "norm_t": data_t,
        "wide_t": wide,
    }
    arrays = (HlsArray("exp", "table", table, exp_tab), HlsArray("inv", "table", table, inv_tab))
    return Lowering("softmax", consts, typedefs, arrays, pixel_input=True)


#: integer bits that cover the whole useful input range of this table (differences beyond 16 give exp(-16) ~ 1e-7): an `auto`
#: result read only by table activations keeps just these, saturating
TABLE_INPUT_BITS = 5


def auto_result(default: FixedType, hi: float | None) -> FixedType:
    """The `auto` result type: non-negative and bounded, so unsigned with the integer bits
    its upper bound `hi` needs (1 without an interval), the default's width.
    """
    return unsigned_result(default, hi)


SPEC = OpSpec(Op.SOFTMAX, same_shape, run_float, run_fixed, ("result", "table", "accum"), "Softmax")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Exp and inverse tables, a sum and n products; `argmax`: a comparator tree."""
    if str(node.attrs.get("implementation", "stable")) == "argmax":
        # no tables: a comparator tree over the classes (a max pool of the whole vector)
        n = int(node.out.shape[-1])
        return [
            PoolCost(
                name=node.name,
                in_width=n,
                in_height=costing.size(node) // n,
                n_chan=1,
                pool_width=n,
                pool_height=1,
                op="max",
                input=ctx.input,
                io_type=ctx.io_type,
            )
        ]
    return costing.activation(node, ctx, "softmax")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """`run_fixed` as logic, row by row over the last axis: a comparison tree for the
    maximum (stable, argmax), table indices as bit slices, ROMs for the exponential and
    inverse tables, an adder tree for the sum and one DSP product per output.
    """
    x_t = fixed(node, inputs[0])
    tr = need(node, "result")
    impl = str(node.attrs.get("implementation", "stable"))
    n = node.out.shape[-1]
    vals = list(xs[0])
    outs: list[Val] = []
    for start in range(0, len(vals), n):
        row = vals[start : start + n]
        outs.extend(_rtl_row(node, net, row, x_t, tr, impl))
    return outs


def _rtl_row(
    node: Node, net: Netlist, row: list[Val], x_t: FixedType, tr: FixedType, impl: str
) -> list[Val]:
    if impl == "argmax":
        top = net.tree(row, lambda a, b: net.select(a, b, larger=True))
        one_m = int(tr.to_mantissa(np.array([1.0]))[0])
        return net.first_equal(row, top, one_m, tr.frac)
    table, accum, inv_inp = types(node, x_t)
    if impl == "stable":
        in_bits = x_t.width - int(x_t.signed)
        norm = FixedType(in_bits, x_t.integer - int(x_t.signed), signed=False)
        size_exp = (
            min(_table_size(node, table), 1 << in_bits) if x_t.signed else _table_size(node, table)
        )
        top = net.tree(row, lambda a, b: net.select(a, b, larger=True))
        data = [arith.cast(net, net.add(top, v, "diff", subtract=True), norm) for v in row]
        data_t, negative = norm, True
    elif impl == "latency":
        size_exp = _table_size(node, table, x_t)
        data, data_t, negative = row, x_t, False
    else:
        msg = f"Softmax {node.name!r}: implementation {impl!r} is not one of {IMPLEMENTATIONS}"
        raise GraphError(msg)
    size_inv = _table_size(node, table, x_t)
    exp_tab, _ = exp_inv_tables(node, data_t, table, inv_inp, negative, size_exp)
    _, inv_tab = exp_inv_tables(node, inv_inp, table, inv_inp, negative, size_inv)
    exp_rom = [int(v) for v in accum.cast_mantissa(exp_tab, table)]
    bits_exp, bits_inv = size_exp.bit_length() - 1, size_inv.bit_length() - 1
    exp_res = [
        net.rom(arith.top_bits(net, d, data_t.width, bits_exp), exp_rom, accum.frac, "exp")
        for d in data
    ]
    exp_sum = arith.cast(net, arith.cast(net, net.total(exp_res, "esum"), accum), inv_inp)
    inv = net.rom(
        arith.top_bits(net, exp_sum, inv_inp.width, bits_inv),
        [int(v) for v in inv_tab],
        table.frac,
        "inv",
    )
    return [arith.cast(net, net.mul(e, inv, "smx"), tr) for e in exp_res]
