"""Softmax with its own table types: hls4ml 1.3's bit-exact softmax (HGQ2's `QSoftmax`).

Two forms, as hls4ml's attr `implementation`: 'stable' (HGQ2's `stable=True`, below) and
'latency' (`stable=False`, hls4ml's `softmax_latency`): no maximum, the input itself indexes
the exponential table (every bit of the input's type: `2**width(input)` entries of
`exp(+value * exp_scale)`, hls4ml's `exp_table_size = 2**(k + i + f)` of the input), the rest
as in the stable form.

hls4ml's `softmax_stable` (nnet_activation.h) over the axes `axes` (per-sample, adjacent: the
tensor read as (n_outer, n_slice, n_inner), one softmax per (outer, inner) over the n_slice
values, hls4ml's `softmax_multidim`): `d = x_max - x` assigned to `norm_t`; `exp_res =
exp_table[d]` (every bit of d indexes the table: `2**width(norm_t)` entries holding
`exp(-value * exp_scale)` computed in float32 and assigned to `exp_table_t`) assigned to
`accum_t`; the sum of a slice in `accum_t`, assigned to `inv_in_t`; `inv = inv_table[sum]`
(`2**width(inv_in_t)` entries of `1 / value` in float32 assigned to `inv_table_t`); the result
`exp_res * inv`. The types are HGQ2's table quantisers (attrs `norm_t`, `exp_table_t`,
`inv_in_t`, `inv_table_t`, as hls4ml's QSoftmax handler reads them); `accum_t` is hls4ml's
bit-exact pass's (`types`), and the result its exact product type
`ufixed<W_exp + W_inv, I_exp + I_inv>`.

The float kernel is HGQ2's: the same steps with each quantiser applied to float values
(`x_max - x`, `exp`, the sum, `1 / (sum + 1e-7)`), no accumulator.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray, IntArray, product_type, wide_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, same_shape
from hepinfer.ops.bounds import Bounds, Interval, full, one
from hepinfer.ops.cost import ActivationCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count

#: the widest table index (2**20 entries): wider types are refused
MAX_INDEX_BITS = 20
#: HGQ2's `1 / (x + epsilon)` (Keras' backend epsilon)
EPSILON = 1e-7
TYPE_ATTRS = ("norm_t", "exp_table_t", "inv_in_t", "inv_table_t")
#: hls4ml's softmax implementations that are bit-exact with HGQ2 (its `implementation` attr)
IMPLEMENTATIONS = ("stable", "latency")


@dataclass(frozen=True)
class Tables:
    """The node's types: the quantisers' (norm, exp, inv_in, inv), hls4ml's accum, the result.

    ``norm`` is the exponential table's index type: `norm_t` in the stable form, the input's
    type in the latency form (None where the input's type is not known).
    """

    norm: FixedType | None
    exp: FixedType
    inv_in: FixedType
    inv: FixedType
    accum: FixedType
    result: FixedType


def slices(node: Node, shape: Sequence[int]) -> tuple[int, int, int]:
    """(n_outer, n_slice, n_inner) of a per-sample `shape` for the node's `axes`."""
    axes = [int(a) % len(shape) for a in node.attrs.get("axes", (-1,))]
    axes.sort()
    if not axes or any(b - a != 1 for a, b in itertools.pairwise(axes)):
        msg = f"BitExactSoftmax {node.name!r}: axes {axes} must be adjacent (as in hls4ml 1.3)"
        raise GraphError(msg)
    outer = math.prod(shape[: axes[0]])
    inner = math.prod(shape[axes[-1] + 1 :])
    return outer, math.prod(shape[axes[0] : axes[-1] + 1]), inner


def accum_type(inv_in: FixedType, exp: FixedType, n_slice: int) -> FixedType:
    """hls4ml 1.3's bit-exact `accum_t` (`register_precision` of Softmax): `inv_in_t` with
    `f_exp + 2 * ceil(log2 n)` fractional bits (`ceil(log2 n)` more integer bits when
    `inv_in_t` does not wrap), TRN, WRAP.
    """
    scale = math.ceil(math.log2(n_slice)) if n_slice > 1 else 0
    integer = inv_in.integer
    width = exp.frac + scale + integer + scale
    if inv_in.overflow is not Overflow.WRAP:
        width += scale
        integer += scale
    return FixedType(max(width, 1), integer, inv_in.signed, Quant.TRN, Overflow.WRAP)


def implementation(node: Node) -> str:
    """The node's form, 'stable' (the default) or 'latency' (GraphError naming others)."""
    impl = str(node.attrs.get("implementation", "stable"))
    if impl not in IMPLEMENTATIONS:
        msg = (
            f"BitExactSoftmax {node.name!r}: implementation {impl!r} is not supported; "
            f"supported: {', '.join(IMPLEMENTATIONS)} (hls4ml 1.3's bit-exact forms)"
        )
        raise GraphError(msg)
    return impl


def types(node: Node, shape: Sequence[int], data: FixedType | None = None) -> Tables:
    """The node's types (GraphError naming a missing or unparsable one); `data` is the
    input's type (the latency form's table index).
    """
    latency = implementation(node) == "latency"
    parsed: dict[str, FixedType] = {}
    for key in TYPE_ATTRS[1:] if latency else TYPE_ATTRS:
        text = node.attrs.get(key)
        if text is None:
            msg = f"BitExactSoftmax {node.name!r} has no {key!r} attribute (a fixed-point type)"
            raise GraphError(msg)
        parsed[key] = FixedType.parse(str(text))
    norm = data if latency else parsed["norm_t"]
    exp, inv_in, inv = (parsed[k] for k in TYPE_ATTRS[1:])
    what_norm = "the input type" if latency else "norm_t"
    for t, what in ((norm, what_norm), (inv_in, "inv_in_t")):
        if t is not None and t.width > MAX_INDEX_BITS:
            msg = (
                f"BitExactSoftmax {node.name!r}: {what} {t} indexes a table of 2**{t.width} "
                f"entries; at most {MAX_INDEX_BITS} bits are supported: narrow the quantiser"
            )
            raise GraphError(msg)
    accum = accum_type(inv_in, exp, slices(node, shape)[1])
    result = FixedType(exp.width + inv.width, exp.integer + inv.integer, False)
    if product_type(accum, inv).width > 62:
        msg = (
            f"BitExactSoftmax {node.name!r}: products of accum {accum} and inv_table {inv} "
            "need more than 62 bits; narrow the table quantisers"
        )
        raise GraphError(msg)
    return Tables(norm, exp, inv_in, inv, accum, result)


def _values(t: FixedType) -> FloatArray:
    """The value of every bit pattern of `t` (index i: pattern i)."""
    pattern = np.arange(1 << t.width, dtype=np.int64)
    if t.signed:
        pattern = np.where(pattern >= 1 << (t.width - 1), pattern - (1 << t.width), pattern)
    out: FloatArray = np.asarray(t.from_mantissa(pattern), dtype=np.float64)
    return out


def _finite(v: FloatArray) -> FloatArray:
    """Infinities as huge finite values (they saturate or wrap as in the C++ casts)."""
    out: FloatArray = np.where(np.isinf(v), np.sign(v) * 1e300, v)
    return out


def tables(node: Node, tab: Tables) -> tuple[IntArray, IntArray]:
    """Mantissas of the exponential table (in `exp_table_t`, indexed by the patterns of
    `tab.norm`: `exp(-value * scale)` in the stable form, `exp(value * scale)` in the latency
    form) and of the inverse table (in `inv_table_t`, indexed by `inv_in_t` patterns), as the
    C++ computes them in float32.
    """
    if tab.norm is None:
        msg = f"BitExactSoftmax {node.name!r}: the tables need the input's fixed-point type"
        raise GraphError(msg)
    scale = np.float32(float(node.attrs.get("exp_scale", 1.0)))
    x = _values(tab.norm).astype(np.float32) * scale
    if implementation(node) == "stable":
        x = -x
    with np.errstate(over="ignore"):
        exp32 = np.exp(x.astype(np.float64)).astype(np.float32)
    exp_m = tab.exp.to_mantissa(_finite(exp32.astype(np.float64)))
    v = _values(tab.inv_in).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv32 = (np.float32(1.0) / v).astype(np.float64)
    return exp_m, tab.inv.to_mantissa(_finite(inv32))


#: (id(node), shape, input type) -> (the node, its types and table mantissas): one
#: computation per node
_PREPARED: dict[
    tuple[int, tuple[int, ...], FixedType], tuple[Node, Tables, IntArray, IntArray]
] = {}


def _prepared(
    node: Node, shape: tuple[int, ...], data: FixedType
) -> tuple[Tables, IntArray, IntArray]:
    key = (id(node), shape, data)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is node:
        return hit[1], hit[2], hit[3]
    tab = types(node, shape, data)
    exp_tab, inv_tab = tables(node, tab)
    if len(_PREPARED) > 256:
        _PREPARED.clear()
    _PREPARED[key] = (node, tab, exp_tab, inv_tab)
    return tab, exp_tab, inv_tab


def _grouped(node: Node, x: np.ndarray) -> np.ndarray:
    outer, n, inner = slices(node, x.shape[1:])
    return x.reshape(x.shape[0], outer, n, inner)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    """HGQ2's QSoftmax: each table quantiser applied to float values (the latency form:
    `exp(x * scale)` of the input itself).
    """
    x = xs[0]
    tab = types(node, x.shape[1:])
    g = _grouped(node, np.asarray(x, dtype=np.float64))

    def q(v: np.ndarray, t: FixedType) -> FloatArray:
        out: FloatArray = t.from_mantissa(t.to_mantissa(_finite(v)))
        return out

    scale = float(np.float32(float(node.attrs.get("exp_scale", 1.0))))
    if implementation(node) == "latency":
        with np.errstate(over="ignore"):
            e = q(np.exp(g * scale), tab.exp)
    else:
        assert tab.norm is not None
        d = q(g.max(axis=2, keepdims=True) - g, tab.norm)
        e = q(np.exp(-d * scale), tab.exp)
    s = q(e.sum(axis=2, keepdims=True), tab.inv_in)
    inv = q(1.0 / (s + EPSILON), tab.inv)
    out: FloatArray = (e * inv).reshape(x.shape)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    """hls4ml's `softmax_stable` / `softmax_latency` on the mantissas (module docstring)."""
    x = xs[0]
    tab, exp_tab, inv_tab = _prepared(node, tuple(x.m.shape[1:]), x.t)
    assert tab.norm is not None
    g = _grouped(node, x.m)
    if implementation(node) == "latency":
        d = g  # the input's own bits index the table
    else:
        diff_t = FixedType(x.t.width + 1, x.t.integer + 1, True)
        d = tab.norm.cast_mantissa(g.max(axis=2, keepdims=True) - g, diff_t)
    e = tab.accum.cast_mantissa(exp_tab[d & ((1 << tab.norm.width) - 1)], tab.exp)
    total = tab.accum.cast_mantissa(e.sum(axis=2, keepdims=True), wide_type(tab.accum.frac))
    s = tab.inv_in.cast_mantissa(total, tab.accum)
    inv = inv_tab[s & ((1 << tab.inv_in.width) - 1)]
    res = tab.result.cast_mantissa(e * inv, product_type(tab.accum, tab.inv))
    return FxArray(np.ascontiguousarray(res.reshape(x.m.shape)), tab.result)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The exact product type (`types`); the node has no configured types."""
    n_inputs(node, inputs, 1)
    return types(node, node.out.shape, inputs[0]).result, node.precision


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Any value of the result type (an accumulator that wraps may give any)."""
    one(node, inputs)
    t = types(node, node.out.shape).result
    return full(node.out.shape, float(t.min), float(t.max))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`bit_exact_softmax`: hls4ml's stable (or latency) softmax per (outer, inner) slice
    with the two tables (`tables`, as the emulator's).
    """
    inputs_count(node, inputs, 1, "HLS")
    tab = types(node, inputs[0].shape, fixed(node, inputs[0]))
    assert tab.norm is not None
    outer, n, inner = slices(node, inputs[0].shape)
    if max(tab.norm.width, tab.inv_in.width) > 16:
        msg = (
            f"BitExactSoftmax {node.name!r}: tables of more than 2**16 entries have no HLS "
            f"kernel (exp table index {tab.norm}, inv_in_t {tab.inv_in}); narrow the "
            "quantisers"
        )
        raise HlsError(msg)
    exp_tab, inv_tab = tables(node, tab)
    consts = {
        "n_in": str(inputs[0].size),
        "n_out": str(node.out.size),
        "n_outer": str(outer),
        "n_slice": str(n),
        "n_inner": str(inner),
        "exp_size": str(exp_tab.size),
        "inv_size": str(inv_tab.size),
        "latency": "1" if implementation(node) == "latency" else "0",
    }
    typedefs = {
        "norm_t": tab.norm,
        "exp_table_t": tab.exp,
        "inv_in_t": tab.inv_in,
        "inv_table_t": tab.inv,
        "accum_t": tab.accum,
    }
    arrays = (
        HlsArray("smx_exp", "exp_table", tab.exp, exp_tab),
        HlsArray("smx_inv", "inv_table", tab.inv, inv_tab),
    )
    return Lowering("bit_exact_softmax", consts, typedefs, arrays)


SPEC = OpSpec(Op.BIT_EXACT_SOFTMAX, same_shape, run_float, run_fixed, (), "Softmax")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A softmax over the output's elements with tables of the larger index width (the
    latency form's exp table: the input's width).
    """
    tab = types(node, node.out.shape, ctx.input)
    assert tab.norm is not None
    _, n, inner = slices(node, node.out.shape)
    return [
        ActivationCost(
            name=node.name,
            kind="softmax",
            n=int(math.prod(node.out.shape)),
            n_chan=n * inner,
            input=ctx.input,
            output=tab.result,
            table_size=1 << max(tab.norm.width, tab.inv_in.width),
            table_bits=max(tab.exp.width, tab.inv.width),
            io_type=ctx.io_type,
        )
    ]
