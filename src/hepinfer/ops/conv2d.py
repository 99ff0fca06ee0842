"""Conv2D, channels-last: kernel `(*k, c_in, c_out)`, attrs `strides`, `dilations`,
`pads` (begin..., end...). Arithmetic: see `hepinfer.ops.convnd`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val
from hepinfer.ops import convnd, costing
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, result_types
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    return convnd.shape(node, inputs, 2)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return convnd.run_float(node, xs, 2)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return convnd.run_fixed(node, xs, 2)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight, bias, accum, result."""
    del inputs
    return result_types(node, ("weight", "bias", "accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per output pixel, the Dense rule over its receptive field (padding contributes 0)."""
    return convnd.interval(node, one(node, inputs), 2)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`conv`: see `hepinfer.ops.convnd.lowering`."""
    return convnd.lowering(node, inputs)


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """Each output sums one product per kernel tap and input channel."""
    del input_shapes
    return math.prod(int(d) for d in node.weights["kernel"].shape[:-1])


#: a BatchNormalization reading only this node folds into its kernel and bias (output
#: channels last; `hepinfer.passes.fold_batchnorm`)
FOLDS_BATCHNORM = True
#: a ZeroPadding read only by this convolution becomes its padding (passes.fold_zero_pad)
FOLDS_ZERO_PAD = True

SPEC = OpSpec(
    Op.CONV2D, shape, run_float, run_fixed, ("weight", "bias", "accum", "result"), "Conv2D"
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A Conv2D: its products, adder trees and weight storage (`costing.conv`)."""
    return costing.conv(node, ctx)


#: hls4ml's `auto` accumulator and result: its weighted-sum rule over `accumulated_terms`
hls4ml_auto = rules.weighted_sum_hook(accumulated_terms)


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Every output pixel as Dense logic on its window (`convnd.rtl`)."""
    return convnd.rtl(node, net, xs, inputs, 2)
