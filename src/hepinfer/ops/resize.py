"""Nearest-neighbour upsampling by integer factors of a channels-last tensor (ONNX `Resize`
with mode `nearest` and integer scales; hls4ml's `UpSampling1D/2D` / `Resize`).

`attrs['scales']`: one integer factor per spatial axis. Output pixel i of an axis copies
input pixel i // scale; the values move unchanged (the output has the input's type).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, pass_through_types
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, inputs_count, sizes, unsupported


def scales(node: Node, rank: int) -> tuple[int, ...]:
    """The integer factor of each of the `rank` spatial axes."""
    out = tuple(int(s) for s in node.attrs["scales"])
    if len(out) != rank or min(out) < 1:
        msg = f"Resize {node.name!r}: scales {out} need {rank} integers >= 1"
        raise GraphError(msg)
    return out


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    s = inputs[0].shape
    if len(s) < 2:
        msg = f"Resize {node.name!r}: input {s} has no spatial axis (channels last)"
        raise GraphError(msg)
    f = scales(node, len(s) - 1)
    return (*(d * k for d, k in zip(s[:-1], f, strict=True)), s[-1])


def _repeat(node: Node, a: np.ndarray, first: int) -> np.ndarray:
    """`a` with spatial axes starting at `first` repeated by their factors."""
    rank = a.ndim - first - 1
    for i, k in enumerate(scales(node, rank)):
        a = np.repeat(a, k, axis=first + i)
    return a


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    out: FloatArray = _repeat(node, xs[0], 1)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    return FxArray(_repeat(node, x.m, 1), x.t)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The input's type: the values are copied."""
    return pass_through_types(node, inputs)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The input's bounds, repeated like the values."""
    lo, hi = one(node, inputs)
    return _repeat(node, lo, 0), _repeat(node, hi, 0)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`resize_nearest`: 1D as height 1."""
    inputs_count(node, inputs, 1, "HLS")
    s = inputs[0].shape
    if len(s) not in (2, 3):
        raise unsupported(node, "HLS", f"input {s} is not 1D or 2D channels-last")
    f = scales(node, len(s) - 1)
    out = node.out.shape
    consts = {
        **sizes(node, inputs),
        "in_width": str(s[-2]),
        "n_chan": str(s[-1]),
        "out_height": str(out[0] if len(s) == 3 else 1),
        "out_width": str(out[-2]),
        "scale_height": str(f[0] if len(s) == 3 else 1),
        "scale_width": str(f[-1]),
    }
    return Lowering("resize_nearest", consts)


SPEC = OpSpec(Op.RESIZE, shape, run_float, run_fixed, (), "Resize")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring in io_parallel firmware (each output is a wire of an input): no resources."""
    del node, ctx
    return []
