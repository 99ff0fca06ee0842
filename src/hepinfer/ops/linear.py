"""Linear (identity) activation: the input assigned to the result type.

With a `quantizer` attribute (QKeras `quantized_relu` / `quantized_bits`), the float
reference applies it and `auto`/default result types become its fixed-point type.
"""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, inputs_count, sizes
from hepinfer.ops.quant import quantize_float


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    out: FloatArray = xs[0]
    quantizer = node.attrs.get("quantizer")
    return out if quantizer is None else quantize_float(out, quantizer)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return xs[0].cast(need(node, "result"))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured result."""
    del inputs
    return result_types(node)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The input's bounds (the cast to `result_t` applies on top)."""
    lo, hi = one(node, inputs)
    return lo, hi


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`linear`: the input assigned to `result_t`."""
    inputs_count(node, inputs, 1, "HLS")
    return Lowering("linear", sizes(node, inputs), same_width=True)


SPEC = OpSpec(Op.LINEAR, same_shape, run_float, run_fixed, ("result",), "Activation")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A linear per output element: comparators and multiplexers, no tables."""
    return costing.activation(node, ctx, "linear")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The input cast to `result_t`."""
    del inputs
    tr = need(node, "result")
    return [arith.cast(net, v, tr) for v in xs[0]]
