"""PReLU: `x > 0 ? x : alpha * x` with one learned alpha per element (hls4ml's `prelu`;
alpha in `weight_t`, hls4ml's `param_t`, the product at full precision, cast to `result_t`).

`weights["alpha"]` has the input's shape (a framework's shared axes are broadcast by the
frontend, as hls4ml's kernel reads one alpha per element).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, product_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types, weight
from hepinfer.ops.bounds import Bounds, Interval, envelope, held, one
from hepinfer.ops.cost import ActivationCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    alpha = weight(node, "alpha")
    if alpha.shape != tuple(inputs[0].shape):
        msg = (
            f"PReLU {node.name!r}: alpha of shape {alpha.shape} does not match its input "
            f"{tuple(inputs[0].shape)}; broadcast shared axes in the frontend"
        )
        raise GraphError(msg)
    return tuple(inputs[0].shape)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    out: FloatArray = np.where(x > 0, x, weight(node, "alpha") * x)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tr = need(node, "weight"), need(node, "result")
    alpha = tw.to_mantissa(weight(node, "alpha"))
    pos = tr.cast_mantissa(x.m, x.t)
    neg = tr.cast_mantissa(x.m * alpha, product_type(x.t, tw))
    return FxArray(np.where(x.m > 0, pos, neg), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight (alpha), result."""
    del inputs
    return result_types(node, ("weight", "result"))


def weight_values(node: Node) -> FloatArray:
    """The values the kernel holds in `weight_t` (alpha), as `auto` weight types size them."""
    return weight(node, "alpha").reshape(-1)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Linear on each side of 0 per element: its values at lo, hi and 0."""
    lo, hi = one(node, inputs)
    alpha = held(weight_values(node), node.precision.weight).reshape(np.shape(lo))
    at = [np.where(v > 0, v, alpha * v) for v in (lo, hi)]
    zero = np.where((lo < 0) & (hi > 0), 0.0, at[0])
    return envelope([*at, zero])


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`prelu`: one alpha per element in `weight_t`."""
    inputs_count(node, inputs, 1, "HLS")
    tw = need(node, "weight")
    arrays = (HlsArray("a", "weight", tw, tw.to_mantissa(weight_values(node))),)
    return Lowering("prelu", sizes(node, inputs), {"weight_t": tw}, arrays, same_width=True)


SPEC = OpSpec(Op.PRELU, shape, run_float, run_fixed, ("weight", "result"), "PReLU")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A select per output element and a constant product by its alpha; one alpha shared by
    every element (as `weight_t` holds it) is the activation's slope (0: a ReLU).
    """
    held_alpha = held(weight(node, "alpha"), node.precision.weight)
    costs = costing.activation(node, ctx, "prelu")
    if held_alpha.size == 0 or not np.all(held_alpha == held_alpha.flat[0]):
        return costs
    slope = float(held_alpha.flat[0])
    return [replace(c, slope=slope) if isinstance(c, ActivationCost) else c for c in costs]
