"""Element-wise product of two tensors (arithmetic in `hepinfer.ops.merge`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val
from hepinfer.ops import costing, merge
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, result_types
from hepinfer.ops.bounds import Bounds, Interval, corners, two
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, inputs_count, sizes


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    out: FloatArray = xs[0] * xs[1]
    return out


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured result."""
    del inputs
    return result_types(node)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The product of the bounds: min/max of the four corner products."""
    a, b = two(node, inputs)
    return corners(a, b)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`multiply` of two tensors of one shape."""
    inputs_count(node, inputs, 2, "HLS")
    return Lowering("multiply", sizes(node, inputs), pixel_input=True)


SPEC = OpSpec(Op.MULTIPLY, merge.shape, run_float, merge.mul_fixed, ("result",), "Merge")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """An element-wise product of the inputs, costed at the widest input type."""
    return costing.merge(node, ctx, "multiply")


def hls4ml_auto(
    node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
) -> dict[str, FixedType]:
    """hls4ml's `auto` result of a two-input product (its Merge rule)."""
    del node, stored
    return {"result": rules.multiply(inputs[0], inputs[1])}


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The exact product (a DSP), cast to `result_t` (`merge.mul_rtl`)."""
    del inputs
    return merge.mul_rtl(node, net, xs)


def exact_result(node: Node, inputs: Sequence[FixedType]) -> FixedType:
    """The result of a `bit_exact` node (HGQ2 models): the type of every product of the inputs, nothing lost."""
    del node
    return rules.multiply(inputs[0], inputs[1])
