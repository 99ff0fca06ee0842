"""Reshape to `attrs['shape']` (no batch dimension; one entry may be -1)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, pass_through_types
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, inputs_count, sizes


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    target = [int(d) for d in node.attrs["shape"]]
    size = inputs[0].size
    if target.count(-1) == 1:
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        target[target.index(-1)] = size // max(known, 1)
    if int(np.prod(target, dtype=np.int64)) != size:
        msg = f"Reshape {node.name!r}: cannot reshape {inputs[0].shape} into {node.attrs['shape']}"
        raise GraphError(msg)
    return tuple(target)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return xs[0].reshape(xs[0].shape[0], *node.out.shape)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    return FxArray(x.m.reshape(x.m.shape[0], *node.out.shape), x.t)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The input's type: the values move unchanged."""
    return pass_through_types(node, inputs)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The input's bounds, reshaped."""
    lo, hi = one(node, inputs)
    return lo.reshape(node.out.shape), hi.reshape(node.out.shape)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`copy` (in io_stream the words flow on unchanged)."""
    inputs_count(node, inputs, 1, "HLS")
    return Lowering("copy", sizes(node, inputs), same_width=True)


SPEC = OpSpec(Op.RESHAPE, shape, run_float, run_fixed, (), "Reshape")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (a reordering of wires): no resources, no cycles."""
    del node, ctx
    return []


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Wiring: the elements keep their row-major order."""
    del node, net, inputs
    return list(xs[0])
