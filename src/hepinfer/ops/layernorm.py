"""Layer normalisation over the last axis, as hls4ml 1.3 computes it (nnet_layernorm.h).

`y = (x - mean) / sqrt(var + eps) * scale + bias` per row of the last axis (`dim` values; a
(seq, dim) input is `seq` rows with one `scale` and `bias`). Weights: `scale` (Keras' gamma,
in `weight_t`: hls4ml's `scale_t`) and `bias` (beta, `bias_t`); attrs `epsilon` (float mode)
and `epsilon_power_of_10` (hls4ml's `-round(log10(epsilon))`, the table's start).

The fixed-point kernel is hls4ml's, with its types: `accum_t` (default hls4ml's
`ap_fixed<14,4,AP_RND_CONV,AP_SAT>`; a configuration's model default replaces it, as in
hls4ml) and `table_t` (default `ap_ufixed<8,5,AP_RND_CONV,AP_SAT>`):

- each input cast to `accum_t` and summed in `accum_t` (every partial sum assigned to it);
  `mean = sum * k_inv` assigned to `accum_t`, `k_inv = 1.0 / dim` cast to `accum_t`;
- `diff_i = x_i - mean` in `accum_t`; `diff_i * diff_i` assigned to `accum_t` and summed in
  it; `var = sum2 * k_inv` in `accum_t`;
- the inverse square root from a table of `table_size` entries (attr, default 4096) over
  `[10**-p, 10**-p + 2**-r)` (`r`: attr `table_range_power2`, default 0): entry `i` is
  `1 / sqrt(10**-p + i * 2**-r / table_size)` in float32, assigned to `table_t`; the index is
  `var * table_size * 2**r` truncated toward zero, clamped to the table;
- `diff_i * inv * scale_i + bias_i` exactly, assigned to `result_t`.

hls4ml converts the index with a C `int`, which wraps when `var * table_size * 2**r` reaches
2**31 (an `accum_t` of 19 or more integer bits with the default table): hepinfer clamps there.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray, IntArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, weight
from hepinfer.ops.bounds import Bounds, Interval, full, held, one
from hepinfer.ops.cost import ActivationCost, BatchNormCost, ElementwiseCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count, sizes, unsupported

#: hls4ml 1.3's Vivado/Vitis defaults (vivado_backend.py, LayerNormalization attributes)
DEFAULT_ACCUM = FixedType(14, 4, True, Quant.RND_CONV, Overflow.SAT)
DEFAULT_TABLE = FixedType(8, 5, False, Quant.RND_CONV, Overflow.SAT)
DEFAULT_TABLE_SIZE = 4096
DEFAULT_EPSILON = 1e-3


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    """The input's shape; `scale` and `bias` have one value per element of the last axis."""
    n_inputs(node, inputs, 1)
    dim = inputs[0].shape[-1] if inputs[0].shape else 0
    for key in ("scale", "bias"):
        if weight(node, key).shape != (dim,):
            msg = (
                f"LayerNormalization {node.name!r}: {key} of shape {weight(node, key).shape} "
                f"must have one value per element of the last axis ({dim},)"
            )
            raise GraphError(msg)
    return inputs[0].shape


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    eps = float(node.attrs.get("epsilon", DEFAULT_EPSILON))
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: FloatArray = (x - mean) / np.sqrt(var + eps) * weight(node, "scale") + weight(node, "bias")
    return out


def types(node: Node) -> tuple[FixedType, FixedType]:
    """(accumulator type, table type) of the node, with hls4ml's defaults."""
    return node.precision.accum or DEFAULT_ACCUM, node.precision.table or DEFAULT_TABLE


def _settings(node: Node) -> tuple[int, int, int]:
    """(table size, table_range_power2, epsilon_power_of_10) of the node."""
    size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
    if size < 2 or size & (size - 1):
        msg = f"LayerNormalization {node.name!r}: table_size {size} must be a power of two >= 2"
        raise GraphError(msg)
    power = node.attrs.get("epsilon_power_of_10")
    if power is None:
        power = -round(math.log10(float(node.attrs.get("epsilon", DEFAULT_EPSILON))))
    return size, int(node.attrs.get("table_range_power2", 0)), int(power)


def table(node: Node) -> IntArray:
    """Mantissas (in `table_t`) of hls4ml's `init_invert_sqr_table`, in float32 as its C++."""
    size, range_power2, eps_power = _settings(node)
    _, table_t = types(node)
    min_val = np.float32(10.0**-eps_power)
    step = np.float32(np.float32(2.0**-range_power2) / np.float32(size))
    in_val = min_val + step * np.arange(size, dtype=np.float32)  # float32 throughout
    inv = 1.0 / np.sqrt(in_val.astype(np.float32)).astype(np.float64)
    return table_t.to_mantissa(inv)


def index_shift(node: Node) -> int:
    """S: the table index is the accumulator mantissa of `var` times 2**-S, truncated."""
    size, range_power2, _ = _settings(node)
    accum, _ = types(node)
    return accum.frac - (size.bit_length() - 1) - range_power2


def _sum(terms: IntArray, accum: FixedType) -> IntArray:
    """hls4ml's `acc += term` over the last axis: each partial sum assigned to `accum_t`."""
    wide = FixedType(min(accum.width + 1, 64), accum.integer + 1, True)
    acc = np.zeros(terms.shape[:-1], dtype=np.int64)
    for i in range(terms.shape[-1]):
        acc = accum.cast_mantissa(acc + terms[..., i], wide)
    return acc


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    accum, table_t = types(node)
    tw, tb, tr = need(node, "weight"), need(node, "bias"), need(node, "result")
    dim = x.m.shape[-1]
    if 2 * accum.width > 62:
        msg = (
            f"LayerNormalization {node.name!r}: accum_t {accum} is wider than 31 bits; "
            "hepinfer's kernel squares it in 64 bits: choose a narrower accumulator"
        )
        raise GraphError(msg)
    wide = FixedType(min(accum.width + 1, 64), accum.integer + 1, True)
    square = product_type(accum, accum)
    k_inv = int(accum.to_mantissa(np.array([1.0 / dim]))[0])
    data = accum.cast_mantissa(x.m, x.t)
    mean = accum.cast_mantissa(_sum(data, accum) * k_inv, square)
    diff = accum.cast_mantissa(data - mean[..., None], wide)
    var = accum.cast_mantissa(_sum(accum.cast_mantissa(diff * diff, square), accum) * k_inv, square)
    inv = table(node)[_index(node, var)]
    scale, bias = tw.to_mantissa(weight(node, "scale")), tb.to_mantissa(weight(node, "bias"))
    prod = diff * inv[..., None]  # exact: accum_t * table_t
    frac = accum.frac + table_t.frac + tw.frac
    top = max(frac, tb.frac)
    reach = (_largest(prod) * _largest(scale) << (top - frac)) + (_largest(bias) << (top - tb.frac))
    if reach.bit_length() > 62:
        msg = (
            f"LayerNormalization {node.name!r}: diff * inv * scale + bias with accum_t {accum}, "
            f"table_t {table_t}, scale {tw}, bias {tb} needs more than 64 bits; use narrower types"
        )
        raise GraphError(msg)
    total = ((prod * scale) << (top - frac)) + (bias << (top - tb.frac))
    return FxArray(tr.cast_mantissa(total, FixedType(64, 64 - top, True)), tr)


def _largest(m: IntArray) -> int:
    return int(np.abs(m).max(initial=0))


def _index(node: Node, var: IntArray) -> IntArray:
    """Table index of `var` (accumulator mantissas): `var * table_size * 2**r` truncated
    toward zero, clamped to the table.
    """
    size = _settings(node)[0]
    shift = index_shift(node)
    pos = np.maximum(var, 0)  # a negative variance (a wrapping accum_t) reads entry 0
    index: IntArray = pos >> shift if shift >= 0 else np.minimum(pos, size) << -shift
    out: IntArray = np.minimum(index, size - 1)
    return out


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t`; the configured weight (scale), bias, and the accumulator and table types
    with hls4ml's defaults.
    """
    n_inputs(node, inputs, 1)
    accum, table_t = types(node)
    precision = dataclasses.replace(node.precision, accum=accum, table=table_t)
    for var in ("weight", "bias"):
        need(node, var)
    return need(node, "result"), precision


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """|diff| is at most the accumulator's largest magnitude and the inverse at most the
    table's largest entry, so `|y - bias| <= max|accum| * max(table) * |scale|`.
    """
    lo, _ = one(node, inputs)
    accum, _ = types(node)
    p = node.precision
    scale, bias = held(weight(node, "scale"), p.weight), held(weight(node, "bias"), p.bias)
    inv_max = float(np.max(table(node).astype(np.float64) * 2.0 ** -types(node)[1].frac))
    reach = max(abs(accum.min), abs(accum.max)) * inv_max * np.abs(scale)
    base = full(lo.shape, 0.0, 0.0)
    return base[0] + bias - reach, base[1] + bias + reach


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`layernorm`: scale, bias, the inverse-square-root table and `k_inv = 1 / dim` (all
    as the emulator's), rows of `dim` values.
    """
    inputs_count(node, inputs, 1, "HLS")
    fixed(node, inputs[0])
    accum, table_t = types(node)
    tw, tb = need(node, "weight"), need(node, "bias")
    dim = int(inputs[0].shape[-1])
    if tb.frac > accum.frac + table_t.frac + tw.frac:
        raise unsupported(node, "HLS", f"its bias type {tb} is finer than diff * inv * scale")
    size, _, _ = _settings(node)
    consts = {
        **sizes(node, inputs),
        "dim": str(dim),
        "seq_len": str(int(inputs[0].size) // dim),
        "table_size": str(size),
        "index_shift": str(index_shift(node)),
    }
    typedefs = {"accum_t": accum, "table_t": table_t, "weight_t": tw, "bias_t": tb}
    arrays = (
        HlsArray("s", "weight", tw, tw.to_mantissa(weight(node, "scale"))),
        HlsArray("b", "bias", tb, tb.to_mantissa(weight(node, "bias"))),
        HlsArray("t", "table", table_t, table(node)),
        HlsArray("k", "accum", accum, accum.to_mantissa(np.array([1.0 / dim]))),
    )
    return Lowering("layernorm", consts, typedefs, arrays)


def hls4ml_auto(
    node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
) -> dict[str, FixedType]:
    """hls4ml's `auto` result: its scale-and-shift rule (as for BatchNormalization)."""
    del node
    return {"result": rules.scale_shift(inputs[0], stored["weight"], stored["bias"])}


SPEC = OpSpec(
    Op.LAYERNORM,
    shape,
    run_float,
    run_fixed,
    ("weight", "bias", "result", "accum", "table"),
    "LayerNormalization",
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Per element: a subtraction, a square, two additions (the sums) and the products by
    the inverse and the scale; per row: one inverse-square-root table lookup (records of
    the existing kinds, all named after the node, priced in sequence).
    """
    accum, table_t = types(node)
    n = costing.size(node)
    dim = int(node.out.shape[-1])
    rows = max(n // max(dim, 1), 1)
    io = ctx.io_type
    return [
        ElementwiseCost(name=node.name, op="add", n=2 * n, input=accum, io_type=io, n_chan=dim),
        ElementwiseCost(name=node.name, op="subtract", n=n, input=accum, io_type=io, n_chan=dim),
        BatchNormCost(
            name=node.name,
            n=n,
            n_chan=dim,
            input=accum,
            scale=accum,
            output=accum,
            io_type=io,
        ),
        ActivationCost(
            name=node.name,
            kind="sigmoid",
            n=rows,
            input=accum,
            output=table_t,
            table_size=int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE)),
            table_bits=table_t.width,
            io_type=io,
        ),
        BatchNormCost(
            name=node.name,
            n=n,
            n_chan=dim,
            input=accum,
            scale=table_t,
            io_type=io,
        ),
        BatchNormCost(
            name=node.name,
            n=n,
            n_chan=dim,
            input=FixedType(accum.width + table_t.width, accum.integer + table_t.integer),
            scale=node.precision.weight or ctx.default,
            output=node.precision.result,
            reuse_factor=costing.reuse_factor(node),
            io_type=io,
        ),
    ]
