"""Shared by ZeroPadding, Cropping and UpSampling: each output element copies one input
element or is 0, by a per-axis index map (no arithmetic, so exact in every mode).

Every axis of a channels-last tensor (the spatial axes and the channel axis) is an `Axis`:
output position `o` reads input position `(o - pad) // rep + off` when `0 <= o - pad <
rep * cnt`, else the output is 0. Zero padding sets `pad`, cropping `off` and `cnt`,
nearest upsampling `rep`; the channel axis is the identity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ops.base import FloatArray
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, inputs_count, sizes, unsupported

IntArray = npt.NDArray[np.int64]
G = TypeVar("G", bound=np.generic)


@dataclass(frozen=True)
class Axis:
    """The index map of one axis: zeros before (`pad`), first input read (`off`), repeats
    per input value (`rep`), input values read (`cnt`); the output length follows.
    """

    pad: int
    off: int
    rep: int
    cnt: int
    after: int = 0

    @property
    def out(self) -> int:
        return self.pad + self.rep * self.cnt + self.after

    def sources(self) -> IntArray:
        """The input position each output position reads (-1: a zero)."""
        t = np.arange(self.out, dtype=np.int64) - self.pad
        inside = (t >= 0) & (t < self.rep * self.cnt)
        return np.where(inside, t // max(self.rep, 1) + self.off, -1)


def identity(n: int) -> Axis:
    """An axis copied unchanged (the channel axis)."""
    return Axis(0, 0, 1, n)


def spatial_rank(node: Node, inputs: Sequence[TensorType], per_axis: int, key: str) -> int:
    """The number of spatial axes of `node` (its attribute `key` holds `per_axis` entries per
    spatial axis); GraphError unless the input has those axes and a channel axis.
    """
    if len(inputs) != 1:
        msg = f"node {node.name!r} ({node.op.value}) takes 1 input, got {len(inputs)}"
        raise GraphError(msg)
    values = tuple(node.attrs[key])
    rank = len(values) // per_axis
    shape = inputs[0].shape
    if rank < 1 or len(values) != rank * per_axis or len(shape) != rank + 1:
        msg = (
            f"{node.op.value} {node.name!r}: {key}={values} does not fit input shape {shape}; "
            f"give {per_axis} value(s) per spatial axis of a channels-last (spatial..., channels) input"
        )
        raise GraphError(msg)
    return rank


def gather(x: npt.NDArray[G], axes: Sequence[Axis]) -> npt.NDArray[G]:
    """`x` (batch first) mapped axis by axis; zeros where an axis reads nothing.

    One `take` of the flattened sample by the composed index map (`flat_map`, built once per
    map and input shape), then the zero positions cleared: a single pass over the output.
    """
    index, zeros, out_shape = flat_map(tuple(axes), tuple(int(d) for d in x.shape[1:]))
    flat = x.reshape(x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64)))
    out: npt.NDArray[G] = np.take(flat, index, axis=1)
    if zeros.size:
        out[:, zeros] = 0
    return out.reshape((x.shape[0], *out_shape))


@functools.lru_cache(maxsize=256)
def flat_map(
    axes: tuple[Axis, ...], in_shape: tuple[int, ...]
) -> tuple[IntArray, IntArray, tuple[int, ...]]:
    """The composed map of `axes` on a sample of `in_shape`: for each output element (row
    major) the flat input position it copies (0 where it is a zero), the flat output
    positions that are zeros, and the output shape. Axes after the map's are copied
    unchanged. Read-only arrays (cached).
    """
    if len(axes) > len(in_shape):
        msg = f"an index map of {len(axes)} axes cannot read a sample of shape {in_shape}"
        raise GraphError(msg)
    axes = (*axes, *(identity(d) for d in in_shape[len(axes) :]))
    strides = [int(np.prod(in_shape[k + 1 :], dtype=np.int64)) for k in range(len(in_shape))]
    index: IntArray = np.zeros((), dtype=np.int64)
    inside: npt.NDArray[np.bool_] = np.ones((), dtype=bool)
    for axis, stride in zip(axes, strides, strict=True):
        src = axis.sources()
        index = index[..., None] + np.maximum(src, 0) * stride
        inside = inside[..., None] & (src >= 0)
    flat_index = np.ascontiguousarray(np.where(inside, index, 0).reshape(-1))
    zeros = np.flatnonzero(~inside.reshape(-1))
    flat_index.flags.writeable = False
    zeros.flags.writeable = False
    return flat_index, zeros, tuple(a.out for a in axes)


def interval(node: Node, inputs: Sequence[Bounds], axes: Sequence[Axis]) -> Interval:
    """The input's bounds moved to where they are read; padded elements are exactly 0."""
    lo, hi = one(node, inputs)
    return gather(lo[None], axes)[0], gather(hi[None], axes)[0]


def lowering(node: Node, inputs: Sequence[TensorType], axes: Sequence[Axis]) -> Lowering:
    """`resample`: the index map of up to three axes (leading identity axes for fewer)."""
    inputs_count(node, inputs, 1, "HLS")
    if len(axes) > 3:
        raise unsupported(node, "HLS", f"it maps {len(axes)} axes; the writer handles up to 3")
    full = [identity(1)] * (3 - len(axes)) + list(axes)
    dims = [1] * (3 - len(axes)) + list(inputs[0].shape)
    consts = sizes(node, inputs)
    for k, (a, d) in enumerate(zip(full, dims, strict=True)):
        consts |= {
            f"d{k}": str(d),
            f"o{k}": str(a.out),
            f"pad{k}": str(a.pad),
            f"off{k}": str(a.off),
            f"rep{k}": str(a.rep),
            f"cnt{k}": str(a.cnt),
        }
    return Lowering("resample", consts)


#: an op's index map: (node, input shape without batch) -> one `Axis` per axis
AxesOf = Callable[[Node, Sequence[int]], list[Axis]]


@dataclass(frozen=True)
class Hooks:
    """The hooks of an op that is one index map, for its module to export by name."""

    shape: Callable[[Node, Sequence[TensorType]], tuple[int, ...]]
    run_float: Callable[[Node, Sequence[FloatArray]], FloatArray]
    run_fixed: Callable[[Node, Sequence[FxArray]], FxArray]
    interval: Callable[[Node, Sequence[Bounds]], Interval]
    hls: Callable[[Node, Sequence[TensorType]], Lowering]


def hooks(axes_of: AxesOf, key: str, per_axis: int) -> Hooks:
    """Shape, emulation (float and fixed: values move, types unchanged), bounds and the HLS
    lowering of an op given by `axes_of`, whose attribute `key` holds `per_axis` entries per
    spatial axis.
    """

    def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
        spatial_rank(node, inputs, per_axis, key)
        return tuple(a.out for a in axes_of(node, inputs[0].shape))

    def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
        out: FloatArray = gather(xs[0], axes_of(node, xs[0].shape[1:]))
        return out

    def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
        x = xs[0]
        return FxArray(gather(x.m, axes_of(node, x.m.shape[1:])), x.t)

    def bounds(node: Node, inputs: Sequence[Bounds]) -> Interval:
        return interval(node, inputs, axes_of(node, inputs[0].lo.shape))

    def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
        return lowering(node, inputs, axes_of(node, inputs[0].shape))

    return Hooks(shape, run_float, run_fixed, bounds, hls)


def wiring_cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (wires, fan-out, constant zeros): no resources,
    no cycles.
    """
    del node, ctx
    return []
