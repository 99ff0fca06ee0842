"""Graph input: float data quantised to the input type (hls4ml's `convert_data`)."""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, need
from hepinfer.ops.fxarray import FxArray


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    del inputs
    return node.out.shape


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    return xs[0]


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return xs[0].cast(need(node, "result"))


SPEC = OpSpec(Op.INPUT, shape, run_float, run_fixed, ("result",), "InputLayer")


# ---------------------------------------------------------------------------- cost (estimate)
# Target hooks are appended below SPEC (one home per operator, hepinfer.ops.hook).
from hepinfer.ops.cost import LayerCost, NodeContext


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (the model's input port): no resources, no cycles."""
    del node, ctx
    return []
