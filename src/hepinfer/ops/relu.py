"""ReLU: `x > 0 ? x : 0`, assigned to the result type (hls4ml's `nnet::relu`).

With a `quantizer` attribute (QKeras `quantized_relu` / `quantized_bits`), the float
reference applies it and `auto`/default result types become its fixed-point type.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
    out: FloatArray = np.maximum(xs[0], 0.0)
    quantizer = node.attrs.get("quantizer")
    return out if quantizer is None else quantize_float(out, quantizer)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    return FxArray(np.maximum(x.m, 0), x.t).cast(need(node, "result"))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured result."""
    del inputs
    return result_types(node)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """`max(x, 0)` is monotone: the bounds clipped at 0."""
    lo, hi = one(node, inputs)
    return np.maximum(lo, 0.0), np.maximum(hi, 0.0)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`relu`."""
    inputs_count(node, inputs, 1, "HLS")
    return Lowering("relu", sizes(node, inputs), same_width=True)


SPEC = OpSpec(Op.RELU, same_shape, run_float, run_fixed, ("result",), "Activation")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A relu per output element: comparators and multiplexers, no tables."""
    return costing.activation(node, ctx, "relu")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """`max(x, 0)` (the sign bit gates the value), cast to `result_t`."""
    del inputs
    tr = need(node, "result")
    return [arith.cast(net, arith.relu(net, v), tr) for v in xs[0]]
