"""Average pooling 1D/2D (channels-last); arithmetic in `hepinfer.ops.pooling`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val
from hepinfer.ops import costing, pooling
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import OpSpec, Types, result_types
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured accum, result."""
    del inputs
    return result_types(node, ("accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per channel, the mean of the window's bounds (in `accum_t`)."""
    return pooling.avg_interval(node, one(node, inputs))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`pool`: see `hepinfer.ops.pooling.lowering`."""
    return pooling.lowering(node, inputs, is_max=False, is_global=False)


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """Each output reads one value per pooling window position."""
    del input_shapes
    return math.prod(int(d) for d in node.attrs.get("pool", (2,)))


SPEC = OpSpec(
    Op.AVGPOOL,
    pooling.shape,
    pooling.avg_float,
    pooling.avg_fixed,
    ("accum", "result"),
    "AveragePooling",
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Average pooling of a (w, c) or (h, w, c) input."""
    return costing.pool(node, ctx, "average", global_=False)


def hls4ml_auto(
    node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
) -> dict[str, FixedType]:
    """hls4ml's `auto` types: a wider accumulator, the input's type as result."""
    del stored
    return {
        "accum": rules.average_accum(inputs[0], accumulated_terms(node, ())),
        "result": inputs[0],
    }


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Adder trees, the division by each window's count and the casts (`pooling.avg_rtl`)."""
    return pooling.avg_rtl(node, net, xs, inputs)


def exact_accum(accum: FixedType, n: int) -> FixedType:
    """The accumulator of a `bit_exact` node (HGQ2 models): the exact sum's type with
    `ceil(log2 n)` more fractional bits, so that the division by a power-of-two count is
    exact (hls4ml 1.3's bit-exact pooling: `f + log2 n` fractional bits).
    """
    grow = math.ceil(math.log2(n)) if n > 1 else 0
    return FixedType(accum.width + grow, accum.integer, accum.signed)
