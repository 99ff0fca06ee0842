"""ZeroPadding1D/2D: zeros around the spatial axes of a channels-last tensor.

`attrs['pads']`: (begin per spatial axis..., end per spatial axis...), as a convolution's
`pads` (ONNX order). As in hls4ml, the output has the input's type (the values move
unchanged, the added ones are 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.errors import GraphError
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops import resample
from hepinfer.ops.base import OpSpec, pass_through_types


def axes(node: Node, in_shape: Sequence[int]) -> list[resample.Axis]:
    """The index map of every axis: `pads` zeros before and after each spatial axis."""
    pads = [int(p) for p in node.attrs["pads"]]
    rank = len(pads) // 2
    if any(p < 0 for p in pads):
        msg = f"ZeroPadding {node.name!r}: pads {tuple(pads)} must not be negative (crop instead)"
        raise GraphError(msg)
    spatial = [resample.Axis(pads[k], 0, 1, int(in_shape[k]), pads[rank + k]) for k in range(rank)]
    return [*spatial, resample.identity(int(in_shape[-1]))]


_HOOKS = resample.hooks(axes, "pads", 2)
shape = _HOOKS.shape
run_float = _HOOKS.run_float
run_fixed = _HOOKS.run_fixed
#: the input's type: the values move unchanged (hls4ml: the input's precision)
infer_types = pass_through_types
interval = _HOOKS.interval
hls = _HOOKS.hls
cost = resample.wiring_cost

SPEC = OpSpec(Op.ZERO_PADDING, shape, run_float, run_fixed, (), "ZeroPadding2D")
