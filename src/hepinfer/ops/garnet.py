"""GarNet (simplified, `input_format='xn'`, linear output) as hls4ml 1.3 computes it
(`nnet_garnet.h`, `nnet::garnet`, io_parallel only).

Inputs: vertex features `x` (V, F) and the vertex count `n` (1,). Per sublayer (GarNet has
one, GarNetStack several: `hepinfer.ops.garnet_stack`), with Keras' weights `FLR` (input
transform, F -> P), `S` (aggregator distances, F -> A) and `Fout` (output transform,
A * P -> O):

- float (Keras): `d = x S_k + S_b`, edge weights `e = mask * exp(-d**2)` (mask: vertex
  index < n), `agg[a, p] = mean_v e[v, a] * (x FLR_k + FLR_b)[v, p]` (mean over all V),
  `y[v] = mask * (flatten(e[v, a] * agg[a, p]) Fout_k + Fout_b)`; `collapse='mean'` averages
  the V vertices.
- fixed (hls4ml): the input transform is folded into the output transform at conversion
  (`itw[o, a, f] = (FLR_k . Fout_k)[f, a, o]`, `itb[o, a] = (FLR_b . Fout_k)[a, o]`, in
  float32 as hls4ml's numpy); every constant array gets hls4ml's own type (`_add_variable`:
  10 fractional bits, the integer bits its largest value needs, signed only with a negative
  value, AP_RND, AP_SAT; the values printed with 10 decimals first as hls4ml's writer does).
  Per processed vertex: `distance` in `ap_fixed<12,4,AP_TRN,AP_SAT>` (the bias cast, each
  product cast, each sum saturating); the edge weight read from hls4ml's 4096-entry table,
  `exp(-d * d)` truncated to 16 fractional bits then cast to `edge_weight_t` (`table`,
  default `ap_ufixed<10,0,AP_TRN,AP_SAT>`; entry 0, d = 0, is the saturated 1.0); per block
  of U = V / R vertices (R: the reuse factor) the edge weights summed in `edge_weight_aggr_t`
  and `x * e` (cast to the input's type) summed in `aggr_t` (`accum`); each block sum shifted
  right by log2(U) and added up, the total shifted right by log2(R) (the edge-weight mean
  cast to `edge_weight_t`). `base[o, a] = mean_e[a] * itb[o, a] + sum_f mean_x[a, f] *
  itw[o, a, f]` in `aggr_t`; a vertex's output `Fout_b[o] + sum_a e[v, a] * base[o, a]`,
  each product and sum cast to `result_t`; `collapse='mean'`:
  `(Fout_b * n >> log2 V) + sum_a mean_e[a] * base[o, a]` in `result_t` (the bias term in
  `aggr_t`, then in the bias's type).
- `mean_by_nvert=True`: Keras divides the aggregation sums by the vertex count (and its
  `collapse='mean'` by True: a sum over the vertices); hls4ml instead multiplies the sum of
  the shifted block sums by `norm_t(U / n)`, an integer division (`(unsigned) U / nvtx`: the
  quotient keeps the dividend's 0 fractional bits, truncated) assigned to `norm_t` (hls4ml's
  default `ap_ufixed<14,4>`, TRN, WRAP), the products cast to `edge_weight_t` / `aggr_t`
  (no final shift by log2(R)), and its collapse starts from `Fout_b` itself.

hls4ml's loops stop at vertex `n` (an integer count), in blocks of U: vertices at or past `n`
are not computed, and hls4ml leaves their output rows unwritten (whatever the output buffer
held); hepinfer writes 0 there, as Keras does. Supported as hls4ml supports them: simplified
GarNet, `input_format='xn'`, linear output activation, `collapse` None or 'mean' (hls4ml
declares 'sum' and 'max' but its kernel implements neither), reuse factors that are powers of
two dividing V. `quantize_transforms=True` as hls4ml 1.3 reads it: the FLR kernel and bias
and the Fout kernel ternary (`ternary`: threshold 0.5) before the contraction, the contracted
arrays in integer types (no fractional bits); float mode computes the same ternary network
(the Keras layer itself quantises them with `quantized_bits(total_bits, int_bits)` and
quantises its output, sizes its saved config does not even record: hls4ml's reading is the
only one a converter can follow).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray, IntArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, weight
from hepinfer.ops.bounds import Bounds, Interval, full
from hepinfer.ops.cost import ActivationCost, DenseCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, sizes

#: hls4ml's distance type (`distance_width` 12, `distance_nint` 4 in garnet_templates.py)
DISTANCE = FixedType(12, 4, True, Quant.TRN, Overflow.SAT)
#: hls4ml's default edge weight type (`edge_weight_t`)
DEFAULT_EDGE_WEIGHT = FixedType(10, 0, False, Quant.TRN, Overflow.SAT)
#: hls4ml's default `norm_t` (mean_by_nvert's `U / n`: 4 integer bits, 10 fractional)
NORM = FixedType(14, 4, False)
#: the type of `-distance * distance`, in which hls4ml's C simulation returns `hls::exp`
EXP_TYPE = FixedType(25, 9, True)
#: fractional bits hls4ml gives every GarNet constant array
FRAC = 10
COLLAPSES = ("none", "mean")
#: the type of the HLS kernel's sublayer sizes array
DIMS = FixedType(16, 16, True)
#: the keys of one sublayer's Keras weights (`<key><index>_kernel` / `_bias` in a stack)
PARTS = ("FLR", "S", "Fout")


@dataclass(frozen=True)
class Internal:
    """hls4ml's internal GarNet types of one node."""

    edge_weight: FixedType
    edge_weight_aggr: FixedType
    aggr: FixedType


@dataclass(frozen=True)
class Sub:
    """The constant arrays of one sublayer, as hls4ml writes them: (type, mantissas)."""

    itw: tuple[FixedType, IntArray]  # (O, A, F)
    itb: tuple[FixedType, IntArray]  # (O, A)
    adw: tuple[FixedType, IntArray]  # (A, F)
    adb: tuple[FixedType, IntArray]  # (A,)
    otb: tuple[FixedType, IntArray]  # (O,)


def suffixes(node: Node) -> tuple[str, ...]:
    """The weight-name suffix of each sublayer ("" for GarNet, "0", "1", ... for a stack)."""
    if node.op is Op.GARNET:
        return ("",)
    return tuple(str(i) for i in range(int(node.attrs["n_sublayers"])))


def _key(part: str, suffix: str, kind: str) -> str:
    return f"{part}{suffix}_{kind}"


def _log2(value: int) -> int:
    return int(np.log2(value))  # hls4ml's int(np.log2(...)): floor


def geometry(node: Node) -> tuple[int, int, int]:
    """(V, R, U): vertices, reuse factor and vertices per block; GraphError where hls4ml's
    kernel would read past its arrays (R not a power of two, or not dividing V).
    """
    v = int(node.attrs["n_vertices"])
    r = costing.reuse_factor(node)
    if r < 1 or r & (r - 1) or v % r:
        msg = (
            f"{node.op.value} {node.name!r}: reuse factor {r} must be a power of two that "
            f"divides the {v} vertices (hls4ml's vertex loop has no bound check)"
        )
        raise GraphError(msg)
    return v, r, v >> _log2(r)


def internal(node: Node) -> Internal:
    """hls4ml's defaults (garnet_templates.py), replaced by the configured `accum` (aggr_t)
    and `table` (edge_weight_t).
    """
    v, r, _ = geometry(node)
    log2r, width = _log2(r), _log2(v)
    aggr_int = max(log2r, width - log2r) + 3
    ew_int = aggr_int - 3
    return Internal(
        node.precision.table or DEFAULT_EDGE_WEIGHT,
        FixedType(ew_int + FRAC, ew_int, False),
        node.precision.accum or FixedType(aggr_int + FRAC, aggr_int, True),
    )


def _minimum_width(data: npt.NDArray[np.float32], signed: bool) -> int:
    """hls4ml's `find_minimum_width`."""
    largest = np.amax(np.abs(data))
    if largest == 0.0:
        return 1
    log2max = np.log2(largest)
    width = max(0, int(np.ceil(log2max)))
    if width == int(np.floor(log2max)):
        width += 1
    return width + int(signed)


def _variable(data: npt.NDArray[np.float32], quantized: bool = False) -> tuple[FixedType, IntArray]:
    """hls4ml's `_add_variable`: the type from the data (`quantized`: an integer type, no
    fractional bits), the values as its writer prints them.
    """
    signed = bool(np.amin(data) < 0.0)
    integer = _minimum_width(data, signed)
    frac = 0 if quantized else FRAC
    t = FixedType(integer + frac, integer, signed, Quant.RND, Overflow.SAT)
    printed = np.array([float(f"{float(v):.{FRAC}f}") for v in data.ravel()]).reshape(data.shape)
    return t, t.to_mantissa(printed)


def _f32(node: Node, key: str) -> npt.NDArray[np.float32]:
    return weight(node, key).astype(np.float32)


def ternary(data: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """hls4ml's `TernaryQuantizer` (its reading of `quantize_transforms`): 1 above 0.5, -1 at
    or below -0.5, else 0.
    """
    one = np.ones_like(data)
    out: npt.NDArray[Any] = np.where(data > 0.5, one, np.where(data <= -0.5, -one, 0 * one))
    return out


def transforms(node: Node, suffix: str, dtype: type) -> tuple[npt.NDArray[Any], ...]:
    """(FLR kernel, FLR bias, Fout kernel) of a sublayer in `dtype`, ternary with
    `quantize_transforms` (as hls4ml 1.3 quantises them).
    """
    arrays: tuple[npt.NDArray[Any], ...] = tuple(
        weight(node, _key(part, suffix, kind)).astype(dtype)
        for part, kind in (("FLR", "kernel"), ("FLR", "bias"), ("Fout", "kernel"))
    )
    if node.attrs.get("quantize_transforms"):
        return tuple(ternary(a) for a in arrays)
    return arrays


def sublayers(node: Node) -> list[Sub]:
    """The constant arrays of every sublayer, contracted and typed as hls4ml does."""
    out = []
    dims = _dims(node)
    quantized = bool(node.attrs.get("quantize_transforms"))
    for (_, a, p, o), suffix in zip(dims, suffixes(node), strict=True):
        flr_k, flr_b, fout_k = transforms(node, suffix, np.float32)
        fout = fout_k.reshape(a, p, o)
        kernel = np.dot(flr_k, fout)  # (F, A, O)
        bias = np.dot(flr_b, fout)  # (A, O)
        out.append(
            Sub(
                _variable(kernel.transpose((2, 1, 0)), quantized),
                _variable(bias.transpose((1, 0)), quantized),
                _variable(_f32(node, _key("S", suffix, "kernel")).transpose((1, 0))),
                _variable(_f32(node, _key("S", suffix, "bias"))),
                _variable(_f32(node, _key("Fout", suffix, "bias"))),
            )
        )
    return out


def _dims(node: Node) -> list[tuple[int, int, int, int]]:
    """(F, A, P, O) of each sublayer, from the weights."""
    out = []
    for suffix in suffixes(node):
        f, p = weight(node, _key("FLR", suffix, "kernel")).shape
        a = weight(node, _key("S", suffix, "kernel")).shape[1]
        o = weight(node, _key("Fout", suffix, "kernel")).shape[1]
        out.append((int(f), int(a), int(p), int(o)))
    return out


def collapse(node: Node) -> str:
    """'mean' or 'none' (GraphError otherwise)."""
    value = str(node.attrs.get("collapse", "none"))
    if value not in COLLAPSES:
        msg = (
            f"{node.op.value} {node.name!r}: collapse={value!r} is not supported; supported: "
            "None or 'mean' (hls4ml 1.3's kernel implements only these)"
        )
        raise GraphError(msg)
    return value


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    """(V, O) per vertex, or (O,) with `collapse='mean'`; checks the weights' shapes."""
    n_inputs(node, inputs, 2)
    x, count = inputs
    if len(x.shape) != 2 or count.shape != (1,):
        msg = (
            f"{node.op.value} {node.name!r}: inputs of shapes {x.shape} and {count.shape}; "
            "expected the vertex features (V, F) and the vertex count (1,)"
        )
        raise GraphError(msg)
    v, f_in = x.shape
    if int(node.attrs.get("n_vertices", v)) != v:
        msg = f"{node.op.value} {node.name!r}: n_vertices {node.attrs['n_vertices']} != V = {v}"
        raise GraphError(msg)
    for i, (f, a, p, o) in enumerate(_dims(node)):
        suffix = suffixes(node)[i]
        expected = {
            "FLR_bias": (p,),
            "S_bias": (a,),
            "Fout_kernel": (a * p, o),
            "Fout_bias": (o,),
        }
        for name, want in expected.items():
            part, kind = name.split("_")
            got = weight(node, _key(part, suffix, kind)).shape
            if got != want:
                msg = (
                    f"{node.op.value} {node.name!r}: {_key(part, suffix, kind)} has shape "
                    f"{got}, expected {want}"
                )
                raise GraphError(msg)
        if f != f_in:
            msg = (
                f"{node.op.value} {node.name!r}: sublayer {i} reads {f} features, its input "
                f"has {f_in}"
            )
            raise GraphError(msg)
        f_in = o
    return (f_in,) if collapse(node) == "mean" else (v, f_in)


def _mask(count: FloatArray, v: int, u: int) -> npt.NDArray[np.bool_]:
    """Which vertices hls4ml's loops compute: blocks of `u` starting below the count, and
    within them the vertices before an integer count (batch, V).
    """
    index = np.arange(v)
    start = (index // u) * u
    n = count.reshape(-1, 1)
    integer = n == np.floor(n)
    out: npt.NDArray[np.bool_] = (start < n) & ((index < n) | ~integer)
    return out


# ------------------------------------------------------------------ float (Keras)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    """Keras' GarNet (`mean_by_nvert`: the sums over vertices divided by the count, the
    collapse a sum).
    """
    data, count = xs
    v = data.shape[1]
    by_nvert = bool(node.attrs.get("mean_by_nvert"))
    divisor = count.reshape(-1, 1, 1).astype(np.float64) if by_nvert else float(v)
    mask = (np.arange(v) < count.reshape(-1, 1))[..., None].astype(np.float64)
    for (_, a, p, o), suffix in zip(_dims(node), suffixes(node), strict=True):
        flr_k, flr_b, fout_k = transforms(node, suffix, np.float64)
        feats = data @ flr_k + flr_b
        dist = data @ weight(node, _key("S", suffix, "kernel")) + weight(
            node, _key("S", suffix, "bias")
        )
        edge = mask * np.exp(-np.square(dist))  # (B, V, A)
        agg = np.einsum("bva,bvp->bap", edge, feats) / divisor
        updated = np.einsum("bva,bap->bvap", edge, agg).reshape(len(data), v, a * p)
        fout = fout_k.reshape(a * p, o)
        data = mask * (updated @ fout + weight(node, _key("Fout", suffix, "bias")))
    if collapse(node) == "mean":
        out: FloatArray = data.sum(axis=1) if by_nvert else data.mean(axis=1)
        return out
    return data


# ------------------------------------------------------------------ fixed (hls4ml)


def _cast(t: FixedType, m: IntArray, frac: int) -> IntArray:
    """Assign mantissas with `frac` fractional bits (exact wide value) to type `t`."""
    return t.cast_mantissa(m, FixedType(64, 64 - frac, True))


def _sum(t: FixedType, *terms: tuple[IntArray, int]) -> IntArray:
    """Assign the exact sum of (mantissas, fractional bits) terms to type `t`."""
    top = max(frac for _, frac in terms)
    aligned = [m if frac == top else m << (top - frac) for m, frac in terms]
    total = aligned[0] + aligned[1] if len(aligned) == 2 else np.sum(aligned, axis=0)
    return _cast(t, np.asarray(total, dtype=np.int64), top)


def edge_table(node: Node) -> IntArray:
    """hls4ml's edge-weight table in `edge_weight_t` mantissas, indexed by the distance's 12
    raw bits (two's complement).
    """
    t = internal(node).edge_weight
    raw = np.arange(1 << DISTANCE.width)
    signed = np.where(raw >= 1 << (DISTANCE.width - 1), raw - (1 << DISTANCE.width), raw)
    d = signed * 2.0**-DISTANCE.frac
    exp = EXP_TYPE.to_mantissa(np.exp(-d * d))
    table = t.cast_mantissa(exp, EXP_TYPE)
    one = FixedType(t.width, 0, False, Quant.TRN, Overflow.SAT)
    table[0] = t.cast_mantissa(one.to_mantissa(np.array([1.0])), one)[0]
    return table


@dataclass(frozen=True)
class _Means:
    edge: IntArray  # (B, A) in edge_weight_t
    feat: IntArray  # (B, A, F) in aggr_t


def _accumulate(t: FixedType, terms: IntArray, frac: int) -> IntArray:
    """`acc += term` from 0 over axis 1 with every partial sum assigned to `t`. A wrapping
    type that loses no fractional bit wraps the total as it wraps each partial sum (two's
    complement sums are exact modulo 2**W): then one sum and one cast suffice.
    """
    if t.overflow is Overflow.WRAP and t.sat_bits == 0 and frac <= t.frac:
        return _cast(t, terms.sum(axis=1), frac)
    acc = np.zeros(terms[:, 0].shape, dtype=np.int64)
    for i in range(terms.shape[1]):
        acc = _sum(t, (acc, t.frac), (terms[:, i], frac))
    return acc


def _aggregate(
    node: Node,
    sub: Sub,
    data: IntArray,
    data_t: FixedType,
    mask: npt.NDArray[np.bool_],
    table: IntArray,
    count: FxArray,
) -> tuple[IntArray, _Means]:
    """hls4ml's `aggregate` / `compute_weights_aggregates`: the edge weights (B, V, A) and
    the means.
    """
    ty = internal(node)
    v, r, u = geometry(node)
    batch, _, n_feat = data.shape
    adw_t, adw = sub.adw
    adb_t, adb = sub.adb
    dist = np.broadcast_to(DISTANCE.cast_mantissa(adb, adb_t), (batch, v, len(adb))).copy()
    for f in range(n_feat):
        incr = _cast(
            DISTANCE, data[:, :, f, None] * adw[None, None, :, f], data_t.frac + adw_t.frac
        )
        dist = _sum(DISTANCE, (dist, DISTANCE.frac), (incr, DISTANCE.frac))
    raw = dist & ((1 << DISTANCE.width) - 1)
    edge = np.where(mask[..., None], np.take(table, raw), 0)  # (B, V, A)
    ewa, aggr = ty.edge_weight_aggr, ty.aggr
    weighted = _cast(
        data_t, edge[..., None] * data[:, :, None, :], data_t.frac + ty.edge_weight.frac
    )
    weighted = np.where(mask[..., None, None], weighted, 0)  # (B, V, A, F)
    n_edge = edge.shape[-1]
    edge_acc = np.zeros((batch, n_edge), dtype=np.int64)
    feat_acc = np.zeros((batch, n_edge, n_feat), dtype=np.int64)
    shift = _log2(v) - _log2(r)
    for block in range(r):
        rows = slice(block * u, (block + 1) * u)
        edge_loc = _accumulate(ewa, edge[:, rows], ty.edge_weight.frac)
        feat_loc = _accumulate(aggr, weighted[:, rows], data_t.frac)
        edge_acc = _sum(ewa, (edge_acc, ewa.frac), (edge_loc >> shift, ewa.frac))
        feat_acc = _sum(aggr, (feat_acc, aggr.frac), (feat_loc >> shift, aggr.frac))
    if node.attrs.get("mean_by_nvert"):
        norm = _norm(count, u)[:, :, None]  # (B, 1, 1) mantissas of norm_t
        frac = ewa.frac + NORM.frac
        edge_mean = _cast(ty.edge_weight, edge_acc * norm[:, :, 0], frac)
        return edge, _Means(edge_mean, _cast(aggr, feat_acc * norm, aggr.frac + NORM.frac))
    means = _Means(
        ty.edge_weight.cast_mantissa(edge_acc >> _log2(r), ewa),
        feat_acc >> _log2(r),
    )
    return edge, means


def _norm(count: FxArray, u: int) -> IntArray:
    """hls4ml's `norm_t nvtx_norm = U / nvtx` per sample (B, 1): the integer quotient of the
    mantissas (`U << frac(nvtx)) / m`, truncated), assigned to `norm_t`; 0 for a count that is
    not positive (where hls4ml divides by zero).
    """
    m = count.m.reshape(-1, 1).astype(np.int64)
    q = np.where(m > 0, (u << count.t.frac) // np.maximum(m, 1), 0)
    return _cast(NORM, q, 0)


def _output_base(node: Node, sub: Sub, means: _Means) -> IntArray:
    """hls4ml's `compute_output_base`: (B, O, A) in `aggr_t`."""
    ty = internal(node)
    aggr, ew = ty.aggr, ty.edge_weight
    itw_t, itw = sub.itw
    itb_t, itb = sub.itb
    base = _cast(aggr, means.edge[:, None, :] * itb[None], ew.frac + itb_t.frac)
    for f in range(itw.shape[-1]):
        prod = means.feat[:, None, :, f] * itw[None, :, :, f]
        base = _sum(aggr, (base, aggr.frac), (prod, aggr.frac + itw_t.frac))
    return base


def _vertices(
    node: Node,
    sub: Sub,
    edge: IntArray,
    base: IntArray,
    mask: npt.NDArray[np.bool_],
    res: FixedType,
) -> IntArray:
    """hls4ml's `compute_vertex_output` for the computed vertices (0 elsewhere): (B, V, O)."""
    ty = internal(node)
    otb_t, otb = sub.otb
    batch, v, n_agg = edge.shape
    acc = np.broadcast_to(res.cast_mantissa(otb, otb_t), (batch, v, len(otb))).copy()
    frac = ty.edge_weight.frac + ty.aggr.frac
    for a in range(n_agg):
        incr = _cast(res, edge[:, :, a, None] * base[:, None, :, a], frac)
        acc = _sum(res, (acc, res.frac), (incr, res.frac))
    return np.where(mask[..., None], acc, 0)


def _collapsed(
    node: Node, sub: Sub, means: _Means, base: IntArray, count: FxArray, res: FixedType
) -> IntArray:
    """hls4ml's `OutputBiasNormalizer` and `set_output` (`collapse='mean'`): (B, O)."""
    ty = internal(node)
    v, _, _ = geometry(node)
    otb_t, otb = sub.otb
    aggr = ty.aggr
    if node.attrs.get("mean_by_nvert"):  # hls4ml's biases as they are
        acc = np.broadcast_to(res.cast_mantissa(otb, otb_t), (len(count.m), len(otb))).copy()
    else:
        bias = aggr.cast_mantissa(otb, otb_t)
        n = count.m.reshape(-1, 1)
        bias = _cast(aggr, bias[None, :] * n, aggr.frac + count.t.frac) >> _log2(v)
        bias = otb_t.cast_mantissa(bias, aggr)
        acc = res.cast_mantissa(bias, otb_t)
    frac = ty.edge_weight.frac + aggr.frac
    for a in range(base.shape[-1]):
        prod = means.edge[:, None, a] * base[:, :, a]
        acc = _sum(res, (acc, res.frac), (prod, frac))
    return acc


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    data, count = xs
    res = need(node, "result")
    v, _, u = geometry(node)
    mask = _mask(count.t.from_mantissa(count.m), v, u)
    table = edge_table(node)
    m, t = data.m, data.t
    subs = sublayers(node)
    for i, sub in enumerate(subs):
        edge, means = _aggregate(node, sub, m, t, mask, table, count)
        base = _output_base(node, sub, means)
        if i == len(subs) - 1 and collapse(node) == "mean":
            return FxArray(_collapsed(node, sub, means, base, count, res), res)
        m, t = _vertices(node, sub, edge, base, mask, res), res
    return FxArray(m, res)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t`; `accum` (aggr_t) and `table` (edge_weight_t) with hls4ml's defaults."""
    n_inputs(node, inputs, 2)
    ty = internal(node)
    precision = dataclasses.replace(node.precision, accum=ty.aggr, table=ty.edge_weight)
    return need(node, "result"), precision


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """|output| <= |Fout_b| + A * max|aggr_t| (edge weights are at most 1), per sublayer."""
    ty = internal(node)
    reach = max(abs(ty.aggr.min), abs(ty.aggr.max))
    n_agg = _dims(node)[-1][1]
    bias = np.abs(weight(node, _key("Fout", suffixes(node)[-1], "bias")))
    top = float(np.max(bias, initial=0.0)) + 2.0**-FRAC + n_agg * reach
    lo, hi = full(node.out.shape, -top, top)
    del inputs
    return lo, hi


def hls4ml_auto(
    node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
) -> dict[str, FixedType]:
    """hls4ml's `auto` accumulator is its default `aggr_t`."""
    del inputs, stored
    return {"accum": internal(node).aggr}


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`garnet`: every sublayer's arrays in one common type per kind (values exact), the
    edge-weight table, the vertex count as the second input.
    """
    fixed(node, inputs[0])
    count_t = fixed(node, inputs[1])
    ty = internal(node)
    v, r, u = geometry(node)
    if count_t.width > 31 or count_t.frac < 0:
        msg = (
            f"{node.op.value} {node.name!r}: the vertex count's type {count_t} has no HLS "
            "kernel (at most 31 bits, no negative fractional bits); narrow the count input"
        )
        raise HlsError(msg)
    subs = sublayers(node)
    dims = _dims(node)
    consts = {
        **sizes(node, inputs),
        "n_vertices": str(v),
        "reuse": str(r),
        "unroll": str(u),
        "log2_unroll": str(_log2(v) - _log2(r)),
        "log2_reuse": str(_log2(r)),
        "log2_vertices": str(_log2(v)),
        "n_sublayers": str(len(subs)),
        "collapse": "1" if collapse(node) == "mean" else "0",
        "mean_by_nvert": "1" if node.attrs.get("mean_by_nvert") else "0",
        "count_frac": str(count_t.frac),
        "max_feat": str(max(max(d[0], d[3]) for d in dims)),
        "max_agg": str(max(d[1] for d in dims)),
    }
    for i, (f, a, _, o) in enumerate(dims):
        consts |= {f"n_in{i}": str(f), f"n_agg{i}": str(a), f"n_out{i}": str(o)}
    arrays = [HlsArray("t", "table", ty.edge_weight, edge_table(node))]
    typedefs = {
        "table_t": ty.edge_weight,
        "edge_t": ty.edge_weight,
        "edge_aggr_t": ty.edge_weight_aggr,
        "aggr_t": ty.aggr,
        "distance_t": DISTANCE,
        "norm_t": NORM,
        "otb_last_t": subs[-1].otb[0],
        "dims_t": DIMS,
    }
    for kind in ("itw", "itb", "adw", "adb", "otb"):
        parts = [getattr(s, kind) for s in subs]
        common = _common([p[0] for p in parts])
        flat = np.concatenate([p[1].ravel() << (common.frac - p[0].frac) for p in parts])
        arrays.append(HlsArray(kind, kind, common, flat))
        typedefs[f"{kind}_t"] = common
    flat_dims = np.array([[d[0], d[1], d[3]] for d in dims], dtype=np.int64).ravel()
    arrays.append(HlsArray("gd", "dims", DIMS, flat_dims))
    return Lowering("garnet", consts, typedefs, tuple(arrays))


def _common(types: Sequence[FixedType]) -> FixedType:
    """A signed type holding every value of `types` exactly (they share 10 fractional bits)."""
    integer = max(t.integer + int(not t.signed) for t in types)
    return FixedType(integer + FRAC, integer, True)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Per sublayer: the distances (a Dense F -> A over the vertices), one edge-weight table
    read per vertex and aggregator, the weighted feature sums (F * A products per vertex), the
    output base (a Dense F + 1 -> A * O) and the vertex outputs (a Dense A -> O per vertex);
    hls4ml pipelines the vertex loop over R blocks (the reuse factor).
    """
    ty = internal(node)
    v, r, _ = geometry(node)
    res = node.precision.result
    data_t = ctx.input_types[0]
    io = ctx.io_type
    out: list[LayerCost] = []
    for (f, a, _, o), sub in zip(_dims(node), sublayers(node), strict=True):
        dense = [
            (f * v, a, data_t, sub.adw[0], DISTANCE, r),
            (v * a, f, data_t, ty.edge_weight, ty.aggr, r),
            (f + 1, a * o, ty.aggr, sub.itw[0], ty.aggr, 1),
            (a * v, o, ty.edge_weight, ty.aggr, res, r),
        ]
        out += [
            DenseCost(
                name=node.name,
                n_in=n_in,
                n_out=n_out,
                input=t_in,
                weight=t_w,
                accum=t_acc,
                output=t_acc,
                reuse_factor=reuse,
                io_type=io,
            )
            for n_in, n_out, t_in, t_w, t_acc, reuse in dense
        ]
        out.append(
            ActivationCost(
                name=node.name,
                kind="sigmoid",
                n=v * a,
                input=DISTANCE,
                output=ty.edge_weight,
                table_size=1 << DISTANCE.width,
                table_bits=ty.edge_weight.width,
                io_type=io,
            )
        )
        data_t = res or data_t
    return out


SPEC = OpSpec(Op.GARNET, shape, run_float, run_fixed, ("result", "accum", "table"), "GarNet")
