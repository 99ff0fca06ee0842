"""Zero padding of the spatial axes of a channels-last tensor (ONNX `Pad`, constant 0).

`attrs['pads']`: begin... then end... per spatial axis (ONNX order, without batch and
channels). The values move unchanged (the output has the input's type), zeros around them;
hls4ml's `ZeroPadding1D/2D`.
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


def pads(node: Node, rank: int) -> tuple[int, ...]:
    """The (begin..., end...) pads of the `rank` spatial axes."""
    out = tuple(int(p) for p in node.attrs["pads"])
    if len(out) != 2 * rank or min(out) < 0:
        msg = f"ZeroPadding {node.name!r}: pads {out} need {2 * rank} non-negative entries"
        raise GraphError(msg)
    return out


def _widths(node: Node, rank: int) -> list[tuple[int, int]]:
    p = pads(node, rank)
    return [(p[i], p[rank + i]) for i in range(rank)]


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    s = inputs[0].shape
    if len(s) < 2:
        msg = f"ZeroPadding {node.name!r}: input {s} has no spatial axis (channels last)"
        raise GraphError(msg)
    w = _widths(node, len(s) - 1)
    return (*(d + a + b for d, (a, b) in zip(s[:-1], w, strict=True)), s[-1])


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    x = xs[0]
    return np.pad(x, [(0, 0), *_widths(node, x.ndim - 2), (0, 0)])


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    return FxArray(np.pad(x.m, [(0, 0), *_widths(node, x.m.ndim - 2), (0, 0)]), x.t)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The input's type: the values move unchanged (0 is in every type)."""
    return pass_through_types(node, inputs)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The input's bounds, and 0 on the border."""
    lo, hi = one(node, inputs)
    w = [*_widths(node, lo.ndim - 1), (0, 0)]
    return np.pad(lo, w), np.pad(hi, w)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`zero_pad`: 1D as height 1; the input at (pad_top, pad_left) of the output."""
    inputs_count(node, inputs, 1, "HLS")
    s = inputs[0].shape
    if len(s) not in (2, 3):
        raise unsupported(node, "HLS", f"input {s} is not 1D or 2D channels-last")
    rank = len(s) - 1
    p = pads(node, rank)
    top = p[0] if rank == 2 else 0
    left = p[rank - 1]
    out = node.out.shape
    consts = {
        **sizes(node, inputs),
        "in_height": str(s[0] if rank == 2 else 1),
        "in_width": str(s[-2]),
        "n_chan": str(s[-1]),
        "out_width": str(out[-2]),
        "pad_top": str(top),
        "pad_left": str(left),
    }
    return Lowering("zero_pad", consts)


SPEC = OpSpec(Op.ZERO_PAD, shape, run_float, run_fixed, (), "ZeroPadding")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring and constant zeros in io_parallel firmware: no resources, no cycles."""
    del node, ctx
    return []
