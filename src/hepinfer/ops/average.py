"""Average of two tensors of one shape, like hls4ml's `nnet::average` (arithmetic in
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
    out: FloatArray = np.asarray((xs[0] + xs[1]) / 2, dtype=np.float64)
    return out


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured result."""
    del inputs
    return result_types(node)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The mean of the bounds."""
    a, b = two(node, inputs)
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`average` of two tensors of one shape."""
    inputs_count(node, inputs, 2, "HLS")
    return Lowering("average", sizes(node, inputs), pixel_input=True)


SPEC = OpSpec(Op.AVERAGE, merge.shape, run_float, merge.average_fixed, ("result",), "Merge")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """An element-wise average of the inputs, costed at the widest input type."""
    return costing.merge(node, ctx, "average")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The exact half sum, cast to `result_t` (`merge.average_rtl`)."""
    del inputs
    return merge.average_rtl(node, net, xs)


def exact_result(node: Node, inputs: Sequence[FixedType]) -> FixedType:
    """The result of a `bit_exact` node (HGQ2 models): the exact sum's type with one more
    fractional bit (the half sum), nothing lost.
    """
    del node
    total = rules.add(inputs[0], inputs[1])
    return FixedType(total.width, total.integer - 1, total.signed)
