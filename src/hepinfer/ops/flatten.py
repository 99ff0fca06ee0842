"""Flatten: all non-batch axes into one (row-major, channels-last order)."""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, n_inputs
from hepinfer.ops.fxarray import FxArray


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    return (inputs[0].size,)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    return xs[0].reshape(xs[0].shape[0], -1)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    del node
    x = xs[0]
    return FxArray(x.m.reshape(x.m.shape[0], -1), x.t)


SPEC = OpSpec(Op.FLATTEN, shape, run_float, run_fixed, (), "Reshape")


# ---------------------------------------------------------------------------- cost (estimate)
# Target hooks are appended below SPEC (one home per operator, hepinfer.ops.hook).
from hepinfer.ops.cost import LayerCost, NodeContext


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (a reordering of wires): no resources, no cycles."""
    del node, ctx
    return []
