"""Graph input: float data quantised to the input type (hls4ml's `convert_data`)."""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, unsupported


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    del inputs
    return node.out.shape


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    return xs[0]


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return xs[0].cast(need(node, "result"))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured result."""
    del inputs
    return result_types(node)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The data's bounds as fed in (the cast to the input type follows `result_t`)."""
    lo, hi = one(node, inputs)
    return lo, hi


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """A graph input is a port of the top function, not a kernel call: HlsError."""
    del inputs
    raise unsupported(node, "HLS layer", "graph inputs are ports of the top function")


SPEC = OpSpec(Op.INPUT, shape, run_float, run_fixed, ("result",), "InputLayer")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (the model's input port): no resources, no cycles."""
    del node, ctx
    return []
