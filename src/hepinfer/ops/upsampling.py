"""UpSampling1D/2D (nearest): each spatial position repeated `scale` times per axis.

`attrs['scale']`: one integer factor per spatial axis of a channels-last tensor. Output
position `o` reads input position `o // scale` (Keras' `UpSampling` and the nearest `Resize`
of hls4ml, torch and ONNX at integer factors). As in hls4ml, the output has the input's type.
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
    """The index map of every axis: each spatial value repeated `scale` times."""
    scale = [int(s) for s in node.attrs["scale"]]
    if any(s < 1 for s in scale):
        msg = f"UpSampling {node.name!r}: scale {tuple(scale)} must be positive integers"
        raise GraphError(msg)
    spatial = [resample.Axis(0, 0, s, int(in_shape[k])) for k, s in enumerate(scale)]
    return [*spatial, resample.identity(int(in_shape[-1]))]


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    resample.spatial_rank(node, inputs, 1, "scale")
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
    """The input's bounds, repeated."""
    return resample.interval(node, inputs, axes(node, inputs[0].lo.shape))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`resample` (see `hepinfer.ops.resample`)."""
    return resample.lowering(node, inputs, axes(node, inputs[0].shape))


SPEC = OpSpec(Op.UPSAMPLING, shape, run_float, run_fixed, (), "Resize")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (each input wire fans out): no resources, no cycles."""
    del node, ctx
    return []
