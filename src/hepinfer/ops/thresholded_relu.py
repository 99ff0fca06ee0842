"""ThresholdedReLU: `x > theta ? x : 0` (hls4ml's `thresholded_relu`; theta held in
`weight_t`, hls4ml's `param_t`, the comparison exact, x cast to `result_t`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, envelope, held, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes


def _theta(node: Node) -> float:
    return float(node.attrs.get("theta", 1.0))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    out: FloatArray = np.where(x > _theta(node), x, 0.0)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tr = need(node, "weight"), need(node, "result")
    theta = int(tw.to_mantissa(np.array([_theta(node)]))[0])
    shift = x.t.frac - tw.frac  # compare at the finer of the two grids
    above = (x.m << max(-shift, 0)) > (theta << max(shift, 0))
    return FxArray(np.where(above, tr.cast_mantissa(x.m, x.t), 0), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight (theta), result."""
    del inputs
    return result_types(node, ("weight", "result"))


def weight_values(node: Node) -> FloatArray:
    """The value the kernel holds in `weight_t` (theta), as `auto` weight types size them."""
    return np.array([_theta(node)], dtype=np.float64)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """X where above theta, else 0: between min(lo, 0) and max(hi, 0)."""
    lo, hi = one(node, inputs)
    theta = float(held(weight_values(node), node.precision.weight)[0])
    low = np.where(lo > theta, lo, np.minimum(0.0, np.maximum(lo, theta)))
    return envelope([low, np.maximum(hi, 0.0), np.where(hi > theta, hi, 0.0)])


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`thresholded_relu`: theta in `weight_t`."""
    inputs_count(node, inputs, 1, "HLS")
    tw = need(node, "weight")
    arrays = (HlsArray("theta", "weight", tw, tw.to_mantissa(weight_values(node))),)
    return Lowering(
        "thresholded_relu", sizes(node, inputs), {"weight_t": tw}, arrays, same_width=True
    )


SPEC = OpSpec(
    Op.THRESHOLDED_RELU, same_shape, run_float, run_fixed, ("weight", "result"), "ThresholdedReLU"
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A comparator and a multiplexer per output element, no tables."""
    return costing.activation(node, ctx, "thresholded_relu")
