"""Dot (hls4ml's `dot1d`): the inner product of two 1D inputs of the same length, output (1,).

Each product is formed at full precision and assigned to `accum_t`, the products are added in
`accum_t` (from 0) and the sum is assigned to `result_t`, as hls4ml 1.3's kernel computes it
(its Dot takes rank-1 inputs only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types
from hepinfer.ops.bounds import Bounds, Interval, accumulated, two
from hepinfer.ops.cost import DenseCost, LayerCost, NodeContext
from hepinfer.ops.dense import _sum_products
from hepinfer.ops.lowering import Lowering, inputs_count, sizes


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 2)
    a, b = (t.shape for t in inputs)
    if len(a) != 1 or a != b:
        msg = (
            f"Dot {node.name!r}: inputs of shapes {a} and {b}; hls4ml's Dot takes two rank-1 "
            "inputs of the same length (flatten them first)"
        )
        raise GraphError(msg)
    return (1,)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    out: FloatArray = (xs[0] * xs[1]).sum(axis=1, keepdims=True)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    a, b = xs
    ta, tr = need(node, "accum"), need(node, "result")
    pt = product_type(a.t, b.t)
    if pt.width > 62:
        msg = f"Dot {node.name!r}: the product type {pt} is wider than 62 bits; narrow the inputs"
        raise GraphError(msg)
    acc = _sum_products((a.m * b.m)[:, :, None], pt, ta, np.zeros(1, dtype=np.int64))
    return FxArray(tr.cast_mantissa(acc, ta), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured accum, result."""
    del inputs
    return result_types(node, ("accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The sum of each product's bounds (its four corners), summed in `accum_t`."""
    (alo, ahi), (blo, bhi) = two(node, inputs)
    corners = np.stack([alo * blo, alo * bhi, ahi * blo, ahi * bhi])
    lo, hi = corners.min(axis=0).sum(keepdims=True), corners.max(axis=0).sum(keepdims=True)
    return accumulated(lo, hi, int(np.size(alo)), node.precision.accum)


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """The one output sums one product per input element."""
    del node
    return int(input_shapes[0][0]) if input_shapes else 1


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`dot` of the two inputs, products and sum in `accum_t`."""
    inputs_count(node, inputs, 2, "HLS")
    return Lowering("dot", sizes(node, inputs), {"accum_t": need(node, "accum")}, pixel_input=True)


#: its accumulator sums products of its two inputs: an `auto` accum grows by both input types
ACCUMULATES_PRODUCTS = True

SPEC = OpSpec(Op.DOT, shape, run_float, run_fixed, ("accum", "result"), "Dot")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A Dense of one output whose weights are the second input (general multipliers)."""
    a, b = ctx.input_types[0], ctx.input_types[-1]
    return [
        DenseCost(
            name=node.name,
            n_in=int(ctx.shape[0]),
            n_out=1,
            input=a,
            weight=b,
            accum=node.precision.accum,
            output=node.precision.result,
            reuse_factor=costing.reuse_factor(node),
            io_type=ctx.io_type,
        )
    ]
