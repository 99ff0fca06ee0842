"""Dense (fully connected) layer: `y = x @ kernel + bias` over the last axis.

Fixed-point arithmetic follows hls4ml's `dense_latency` (nnet_dense_latency.h) exactly:
each product `x * w` is formed at full precision and assigned to `accum_t` (quantisation
and overflow of accum apply per product), the accumulator starts from `(accum_t) bias`, the
products are added in `accum_t`, and the sum is assigned to `result_t`.

Exactness rule for the vectorised int64 kernel:
- if `accum_t` has at least as many fractional bits as the product (no quantisation per
  product) and wraps on overflow, the whole layer is one int64 matrix product, shifted and
  wrapped once: int64 arithmetic wraps modulo 2**64 and `accum_t` (<= 64 bits) keeps only low
  bits, so the result is exact whatever the sizes.
- otherwise each product is quantised on its own: products are exact in int64 when
  `width(x) + width(w) <= 64`; the batch is processed in chunks to bound memory. With a
  saturating accumulator the sum is formed in the kernel's order (saturating at each step).
Wider products fall back to Python integers (exact, slow).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType, Overflow
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, n_inputs, need, weight
from hepinfer.ops.fxarray import FxArray, IntArray, product_type, wide_type

_CHUNK_ELEMENTS = 1 << 21


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    kernel = weight(node, "kernel")
    n_in, n_out = kernel.shape
    if inputs[0].shape[-1] != n_in:
        msg = (
            f"Dense {node.name!r}: input has {inputs[0].shape[-1]} features on its last axis "
            f"but the kernel expects {n_in}"
        )
        raise GraphError(msg)
    return (*inputs[0].shape[:-1], int(n_out))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    kernel = weight(node, "kernel")
    out: FloatArray = xs[0] @ kernel + weight(node, "bias")
    return out


def accumulate(
    xm: IntArray, wm: IntArray, tx: FixedType, tw: FixedType, ta: FixedType, bias: IntArray
) -> IntArray:
    """Sum of the products cast to `ta`, plus bias (already in `ta`), cast to `ta`."""
    shift = ta.frac - (tx.frac + tw.frac)
    if shift >= 0 and ta.overflow is Overflow.WRAP:
        acc = (xm @ wm) << shift if shift else xm @ wm
        return ta.cast_mantissa(acc + bias, wide_type(ta.frac))
    if tx.width + tw.width > 64:
        objs = np.asarray(xm, dtype=object)[:, :, None] * np.asarray(wm, dtype=object)[None]
        return _sum_objects(objs, tx.frac + tw.frac, ta, bias)
    pt = product_type(tx, tw)
    n_in, n_out = wm.shape
    rows = max(1, _CHUNK_ELEMENTS // max(1, n_in * n_out))
    parts = [
        _sum_products(xm[i : i + rows, :, None] * wm[None], pt, ta, bias)
        for i in range(0, xm.shape[0], rows)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, n_out), dtype=np.int64)


def _sum_objects(prod: np.ndarray, pfrac: int, ta: FixedType, bias: IntArray) -> IntArray:
    """Products wider than 64 bits as Python ints: quantise with shifts, exact at any width."""
    if ta.quant.name != "TRN":
        msg = f"products wider than 64 bits support only TRN accumulators, not {ta}"
        raise GraphError(msg)
    shift = pfrac - ta.frac
    q = prod >> shift if shift > 0 else prod << -shift
    total = q.sum(axis=1) + bias.astype(object)
    lo = ta.min_mantissa
    if ta.overflow is Overflow.WRAP:
        out = (total - lo) % (1 << ta.width) + lo
    else:
        out = np.minimum(np.maximum(total, lo), ta.max_mantissa)
    return np.asarray(out, dtype=np.int64)


def _sum_products(prod: IntArray, pt: FixedType, ta: FixedType, bias: IntArray) -> IntArray:
    """prod: (batch, n_in, n_out) exact products of type `pt`."""
    if ta.overflow is Overflow.WRAP:
        if ta.quant.name == "TRN" and pt.frac >= ta.frac:
            q = prod >> (pt.frac - ta.frac)
        else:
            exact = FixedType(64, 64 - ta.frac, True, ta.quant, Overflow.WRAP)
            q = exact.cast_mantissa(prod, pt)
        return ta.cast_mantissa(q.sum(axis=1) + bias, wide_type(ta.frac))
    mult = ta.cast_mantissa(prod, pt)
    acc = np.broadcast_to(bias, (prod.shape[0], prod.shape[2])).astype(np.int64)
    wide = wide_type(ta.frac)
    for i in range(prod.shape[1]):
        acc = ta.cast_mantissa(acc + mult[:, i, :], wide)
    return acc


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tb, ta, tr = (need(node, v) for v in ("weight", "bias", "accum", "result"))
    kernel = weight(node, "kernel")
    wm = tw.to_mantissa(kernel)
    bias = ta.cast_mantissa(tb.to_mantissa(weight(node, "bias")), tb)
    lead = x.m.shape[:-1]
    xm = x.m.reshape(-1, kernel.shape[0])
    acc = accumulate(xm, wm, x.t, tw, ta, bias)
    out = tr.cast_mantissa(acc, ta)
    return FxArray(out.reshape(*lead, kernel.shape[1]), tr)


SPEC = OpSpec(
    op=Op.DENSE,
    shape=shape,
    run_float=run_float,
    run_fixed=run_fixed,
    precisions=("weight", "bias", "accum", "result"),
    hls_name="Dense",
)
