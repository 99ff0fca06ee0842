"""Depthwise Conv1D (depth multiplier 1), channels-last: kernel `(k, c, 1)`.

hls4ml 1.3's DepthwiseConv1D: per channel, the Dense arithmetic of `hepinfer.ops.dense` over
the window (the rank-generic functions of `hepinfer.ops.depthwise_conv2d`); its HLS kernel is
the depthwise convolution of height 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import convnd, costing
from hepinfer.ops import depthwise_conv2d as dw
from hepinfer.ops.base import FloatArray, OpSpec, Types
from hepinfer.ops.bounds import Bounds, Interval
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    return dw.shape(node, inputs)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return dw.run_float(node, xs)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return dw.run_fixed(node, xs)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, bias, accum, result."""
    return dw.infer_types(node, inputs)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per channel, the Dense rule over the window (padding contributes 0)."""
    return dw.interval(node, inputs)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`depthwise` of height 1: see `hepinfer.ops.convnd.lowering`."""
    return convnd.lowering(node, inputs, depthwise=True)


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """Each output sums one product per kernel tap (its own channel only)."""
    return dw.accumulated_terms(node, input_shapes)


SPEC = OpSpec(
    Op.DEPTHWISE_CONV1D,
    shape,
    run_float,
    run_fixed,
    ("weight", "bias", "accum", "result"),
    "DepthwiseConv1D",
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A depthwise Conv1D: its products, adder trees and weight storage (`costing.conv`)."""
    return costing.conv(node, ctx, depthwise=True)


def hls4ml_auto(
    node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
) -> dict[str, FixedType]:
    """hls4ml's `auto` accumulator and result: its weighted-sum rule."""
    return dw.hls4ml_auto(node, inputs, stored)
