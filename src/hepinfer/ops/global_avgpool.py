"""Global average pooling over all spatial positions (channels-last); arithmetic in `hepinfer.ops.pooling`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val
from hepinfer.ops import costing, pooling
from hepinfer.ops.base import OpSpec, Types, result_types
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured accum, result."""
    del inputs
    return result_types(node, ("accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per channel, the mean of the bounds over all positions (in `accum_t`)."""
    return pooling.global_avg_interval(node, one(node, inputs))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`pool`: see `hepinfer.ops.pooling.lowering`."""
    return pooling.lowering(node, inputs, is_max=False, is_global=True)


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """Each output reads every position of its channel."""
    del node
    return math.prod(int(d) for d in input_shapes[0][:-1])


SPEC = OpSpec(
    Op.GLOBAL_AVGPOOL,
    pooling.global_shape,
    pooling.global_avg_float,
    pooling.global_avg_fixed,
    ("accum", "result"),
    "GlobalAveragePooling",
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Global average pooling of a (w, c) or (h, w, c) input."""
    return costing.pool(node, ctx, "average", global_=True)


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """One adder tree and division per channel (`pooling.global_avg_rtl`)."""
    return pooling.global_avg_rtl(node, net, xs, inputs)


def exact_accum(accum: FixedType, n: int) -> FixedType:
    """The accumulator of a `bit_exact` node (HGQ2 models): the exact sum's type with
    `ceil(log2 n)` more fractional bits, so that the division by a power-of-two count is
    exact (hls4ml 1.3's bit-exact pooling: `f + log2 n` fractional bits).
    """
    grow = math.ceil(math.log2(n)) if n > 1 else 0
    return FixedType(accum.width + grow, accum.integer, accum.signed)
