"""Cropping1D/2D: drops elements at both ends of the spatial axes of a channels-last tensor.

`attrs['crops']`: (begin per spatial axis..., end per spatial axis...), the elements dropped
(ONNX `pads` order). As in hls4ml, the output has the input's type.
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
    """The index map of every axis: each spatial axis read from `begin` for what is kept."""
    crops = [int(c) for c in node.attrs["crops"]]
    rank = len(crops) // 2
    spatial = []
    for k in range(rank):
        kept = int(in_shape[k]) - crops[k] - crops[rank + k]
        if min(crops[k], crops[rank + k]) < 0 or kept < 1:
            msg = (
                f"Cropping {node.name!r}: crops {tuple(crops)} do not fit axis {k} of length "
                f"{in_shape[k]}; each must be >= 0 and leave at least one element"
            )
            raise GraphError(msg)
        spatial.append(resample.Axis(0, crops[k], 1, kept))
    return [*spatial, resample.identity(int(in_shape[-1]))]


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    resample.spatial_rank(node, inputs, 2, "crops")
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
    """The bounds of the elements kept."""
    return resample.interval(node, inputs, axes(node, inputs[0].lo.shape))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`resample` (see `hepinfer.ops.resample`)."""
    return resample.lowering(node, inputs, axes(node, inputs[0].shape))


SPEC = OpSpec(Op.CROPPING, shape, run_float, run_fixed, (), "Cropping2D")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (a subset of the wires): no resources, no cycles."""
    del node, ctx
    return []
