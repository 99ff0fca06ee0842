"""QONNX `BipolarQuant` on activations: `x >= 0 ? +scale : -scale` (binary activations).

`attrs['scale']` is a power of two, so the output type is exact: `ap_fixed<2, 2 + log2(scale)>`
holds -scale and +scale as the mantissas -1 and +1. hls4ml turns the node into its
`binary_tanh` activation (`x >= 0` gives +1) and an ApplyAlpha by the scale: the same values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, same_shape
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import ActivationCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, sizes


def _scale(node: Node) -> float:
    return float(node.attrs.get("scale", 1.0))


def fixed_type(node: Node) -> FixedType:
    """The 2-bit signed type whose mantissas -1 and +1 are -scale and +scale."""
    scale = _scale(node)
    exp = math.log2(scale) if scale > 0 else 0.5
    if exp != round(exp):
        msg = (
            f"BipolarQuant {node.name!r}: scale {scale} is not a power of two; "
            "only power-of-two scales have an exact fixed-point type"
        )
        raise GraphError(msg)
    return FixedType(2, 2 + round(exp), True)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    out: FloatArray = np.where(xs[0] >= 0, 1.0, -1.0) * _scale(node)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return FxArray(np.where(xs[0].m >= 0, 1, -1).astype(np.int64), fixed_type(node))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The quantiser's own type (`fixed_type`); BipolarQuant has no configured types."""
    n_inputs(node, inputs, 1)
    return fixed_type(node), node.precision


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """-scale where the input can be negative, +scale where it can be >= 0."""
    lo, hi = one(node, inputs)
    s = _scale(node)
    return np.where(lo >= 0, s, -s), np.where(hi >= 0, s, -s)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`bipolar`: picks one of the two values [+scale, -scale] (held in the output type)."""
    inputs_count(node, inputs, 1, "HLS")
    t = fixed_type(node)
    arrays = (HlsArray("pm", "weight", t, np.array([1, -1], dtype=np.int64)),)
    return Lowering("bipolar", sizes(node, inputs), {"weight_t": t}, arrays, same_width=True)


SPEC = OpSpec(Op.BIPOLAR_QUANT, same_shape, run_float, run_fixed, (), "BipolarQuant")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A sign test per element (hls4ml's `binary_tanh`): a comparator, no tables."""
    return [
        ActivationCost(
            name=node.name,
            kind="binary_tanh",
            n=costing.size(node),
            n_chan=int(node.out.shape[-1]),
            input=ctx.input,
            output=fixed_type(node),
            io_type=ctx.io_type,
        )
    ]
