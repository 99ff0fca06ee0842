"""ZeroPadding1D/2D: zeros around the spatial axes of a channels-last tensor.

`attrs['pads']`: (begin per spatial axis..., end per spatial axis...), as a convolution's
`pads` (ONNX order). As in hls4ml, the output has the input's type (the values move
unchanged, the added ones are 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import resample
from hepinfer.ops.base import FloatArray, OpSpec, Types, pass_through_types
from hepinfer.ops.bounds import Bounds, Interval
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering


def axes(node: Node, in_shape: Sequence[int]) -> list[resample.Axis]:
    """The index map of every axis: `pads` zeros before and after each spatial axis."""
    pads = [int(p) for p in node.attrs["pads"]]
    rank = len(pads) // 2
    if any(p < 0 for p in pads):
        msg = f"ZeroPadding {node.name!r}: pads {tuple(pads)} must not be negative (crop instead)"
        raise GraphError(msg)
    spatial = [resample.Axis(pads[k], 0, 1, int(in_shape[k]), pads[rank + k]) for k in range(rank)]
    return [*spatial, resample.identity(int(in_shape[-1]))]


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    resample.spatial_rank(node, inputs, 2, "pads")
    return tuple(a.out for a in axes(node, inputs[0].shape))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    out: FloatArray = resample.gather(xs[0], axes(node, xs[0].shape[1:]))
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    return FxArray(resample.gather(x.m, axes(node, x.m.shape[1:])), x.t)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The input's type: the values move unchanged (hls4ml: the input's precision)."""
    return pass_through_types(node, inputs)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The input's bounds, and 0 at the padding."""
    return resample.interval(node, inputs, axes(node, inputs[0].lo.shape))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`resample` (see `hepinfer.ops.resample`)."""
    return resample.lowering(node, inputs, axes(node, inputs[0].shape))


SPEC = OpSpec(Op.ZERO_PADDING, shape, run_float, run_fixed, (), "ZeroPadding2D")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (wires and constant zeros): no resources, no cycles."""
    del node, ctx
    return []
