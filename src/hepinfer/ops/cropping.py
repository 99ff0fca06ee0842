"""Cropping1D/2D: drops elements at both ends of the spatial axes of a channels-last tensor.

`attrs['crops']`: (begin per spatial axis..., end per spatial axis...), the elements dropped
(ONNX `pads` order). As in hls4ml, the output has the input's type.
"""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.errors import GraphError
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops import resample
from hepinfer.ops.base import OpSpec, pass_through_types


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


_HOOKS = resample.hooks(axes, "crops", 2)
shape = _HOOKS.shape
run_float = _HOOKS.run_float
run_fixed = _HOOKS.run_fixed
#: the input's type: the values move unchanged (hls4ml: the input's precision)
infer_types = pass_through_types
interval = _HOOKS.interval
hls = _HOOKS.hls
cost = resample.wiring_cost

SPEC = OpSpec(Op.CROPPING, shape, run_float, run_fixed, (), "Cropping2D")
