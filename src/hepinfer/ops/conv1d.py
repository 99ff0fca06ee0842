"""Conv1D, channels-last: kernel `(*k, c_in, c_out)`, attrs `strides`, `dilations`,
`pads` (begin..., end...). Arithmetic: see `hepinfer.ops.convnd`.
"""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import convnd
from hepinfer.ops.base import FloatArray, OpSpec
from hepinfer.ops.fxarray import FxArray


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    return convnd.shape(node, inputs, 1)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return convnd.run_float(node, xs, 1)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return convnd.run_fixed(node, xs, 1)


SPEC = OpSpec(
    Op.CONV1D, shape, run_float, run_fixed, ("weight", "bias", "accum", "result"), "Conv1D"
)


# ---------------------------------------------------------------------------- cost (estimate)
# Target hooks are appended below SPEC (one home per operator, hepinfer.ops.hook).
from hepinfer.ops import costing
from hepinfer.ops.cost import LayerCost, NodeContext


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A Conv1D: its products, adder trees and weight storage (`costing.conv`)."""
    return costing.conv(node, ctx)
