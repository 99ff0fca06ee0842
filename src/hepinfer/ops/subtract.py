"""Subtract of two tensors of one shape, like hls4ml's `nnet::subtract` (arithmetic in
`hepinfer.ops.merge`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val
from hepinfer.ops import costing, merge
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, result_types
from hepinfer.ops.bounds import Bounds, Interval, two
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, inputs_count, sizes


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    out: FloatArray = np.asarray(xs[0] - xs[1], dtype=np.float64)
    return out


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured result."""
    del inputs
    return result_types(node)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The difference of the bounds."""
    a, b = two(node, inputs)
    return a[0] - b[1], a[1] - b[0]


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`subtract` of two tensors of one shape."""
    inputs_count(node, inputs, 2, "HLS")
    return Lowering("subtract", sizes(node, inputs), pixel_input=True)


SPEC = OpSpec(Op.SUBTRACT, merge.shape, run_float, merge.sub_fixed, ("result",), "Merge")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """An element-wise subtract of the inputs, costed at the widest input type."""
    return costing.merge(node, ctx, "subtract")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The exact difference, cast to `result_t` (`merge.add_rtl`)."""
    del inputs
    return merge.add_rtl(node, net, xs, subtract=True)


def exact_result(node: Node, inputs: Sequence[FixedType]) -> FixedType:
    """The result of a `bit_exact` node (HGQ2 models): the type of every difference of the inputs, nothing lost."""
    del node
    return rules.add(inputs[0], inputs[1], subtract=True)
