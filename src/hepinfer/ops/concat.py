"""Concatenate along `attrs['axis']` (per-sample axis, default the last); each input is
assigned to `result_t`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.ops import costing
from hepinfer.ops import hls4ml_auto as rules
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types
from hepinfer.ops.bounds import Bounds, Interval
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, sizes, unsupported


def _axis(node: Node, rank: int) -> int:
    axis = int(node.attrs.get("axis", -1))
    return axis + rank if axis < 0 else axis


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    if len(inputs) < 2:
        msg = f"Concatenate {node.name!r} needs at least 2 inputs"
        raise GraphError(msg)
    rank = len(inputs[0].shape)
    axis = _axis(node, rank)
    rest = {t.shape[:axis] + t.shape[axis + 1 :] for t in inputs}
    if len(rest) != 1 or any(len(t.shape) != rank for t in inputs):
        msg = (
            f"Concatenate {node.name!r}: shapes {[t.shape for t in inputs]} differ off axis {axis}"
        )
        raise GraphError(msg)
    size = sum(t.shape[axis] for t in inputs)
    return (*inputs[0].shape[:axis], size, *inputs[0].shape[axis + 1 :])


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return np.concatenate(xs, axis=1 + _axis(node, xs[0].ndim - 1))


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    tr = need(node, "result")
    parts = [x.cast(tr).m for x in xs]
    return FxArray(np.concatenate(parts, axis=1 + _axis(node, xs[0].m.ndim - 1)), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured result."""
    del inputs
    return result_types(node)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The inputs' bounds concatenated along the axis."""
    axis = _axis(node, inputs[0][0].ndim)
    return (
        np.concatenate([iv[0] for iv in inputs], axis=axis),
        np.concatenate([iv[1] for iv in inputs], axis=axis),
    )


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`concatenate` of two or more tensors along the node's axis: the output is `outer`
    blocks of `block` values; input k fills `in_block<k>` values at `offset<k>` of each.
    """
    if len(inputs) < 2:
        raise unsupported(node, "HLS", "Concatenate needs two or more inputs")
    a = inputs[0]
    consts = sizes(node, inputs)
    rank = len(a.shape)
    axis = _axis(node, rank)
    inner = int(np.prod(a.shape[axis + 1 :], dtype=np.int64))
    blocks = [t.shape[axis] * inner for t in inputs]
    consts |= {
        "n_inputs": str(len(inputs)),
        "axis": str(axis),
        "outer": str(int(np.prod(a.shape[:axis], dtype=np.int64))),
        "block": str(sum(blocks)),
    }
    for k, block in enumerate(blocks):
        consts |= {f"in_block{k}": str(block), f"offset{k}": str(sum(blocks[:k]))}
    return Lowering("concatenate", consts, pixel_input=True)


SPEC = OpSpec(Op.CONCAT, shape, run_float, run_fixed, ("result",), "Concatenate")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A concatenation of the inputs: wiring, and FIFOs in io_stream."""
    return costing.merge(node, ctx, "concatenate")


def hls4ml_auto(
    node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
) -> dict[str, FixedType]:
    """hls4ml's `auto` result: a type both inputs fit in."""
    del node, stored
    return {"result": rules.concatenate(inputs[0], inputs[1])}


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """Each input cast to `result_t`, then wiring: the elements in the concatenated order."""
    tr = need(node, "result")
    axis = _axis(node, len(inputs[0].shape))
    parts = []
    for vals, t in zip(xs, inputs, strict=True):
        block = np.empty(len(vals), dtype=object)
        block[:] = [arith.cast(net, v, tr) for v in vals]
        parts.append(block.reshape(t.shape))
    return list(np.concatenate(parts, axis=axis).ravel())


def exact_result(node: Node, inputs: Sequence[FixedType]) -> FixedType:
    """The result of a `bit_exact` node (HGQ2 models): a type holding both inputs' values, nothing lost."""
    del node
    return rules.concatenate(inputs[0], inputs[1])
