"""UpSampling1D/2D (nearest): each spatial position repeated `scale` times per axis.

`attrs['scale']`: one integer factor per spatial axis of a channels-last tensor. Output
position `o` reads input position `o // scale` (Keras' `UpSampling` and the nearest `Resize`
of hls4ml, torch and ONNX at integer factors). As in hls4ml, the output has the input's type.
"""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.errors import GraphError
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops import resample
from hepinfer.ops.base import OpSpec, pass_through_types


def axes(node: Node, in_shape: Sequence[int]) -> list[resample.Axis]:
    """The index map of every axis: each spatial value repeated `scale` times."""
    scale = [int(s) for s in node.attrs["scale"]]
    if any(s < 1 for s in scale):
        msg = f"UpSampling {node.name!r}: scale {tuple(scale)} must be positive integers"
        raise GraphError(msg)
    spatial = [resample.Axis(0, 0, s, int(in_shape[k])) for k, s in enumerate(scale)]
    return [*spatial, resample.identity(int(in_shape[-1]))]


_HOOKS = resample.hooks(axes, "scale", 1)
shape = _HOOKS.shape
run_float = _HOOKS.run_float
run_fixed = _HOOKS.run_fixed
#: the input's type: the values move unchanged (hls4ml: the input's precision)
infer_types = pass_through_types
interval = _HOOKS.interval
hls = _HOOKS.hls
cost = resample.wiring_cost

SPEC = OpSpec(Op.UPSAMPLING, shape, run_float, run_fixed, (), "Resize")
