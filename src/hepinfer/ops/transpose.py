"""Transpose of the per-sample axes: `attrs['perm']` permutes the non-batch dimensions."""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, pass_through_types
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, inputs_count, sizes, unsupported


def _perm(node: Node) -> tuple[int, ...]:
    return tuple(int(p) for p in node.attrs["perm"])


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    perm = _perm(node)
    if sorted(perm) != list(range(len(inputs[0].shape))):
        msg = f"Transpose {node.name!r}: perm {perm} is not a permutation of the {len(inputs[0].shape)} per-sample axes"
        raise GraphError(msg)
    return tuple(inputs[0].shape[p] for p in perm)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return xs[0].transpose(0, *(p + 1 for p in _perm(node)))


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    return FxArray(x.m.transpose(0, *(p + 1 for p in _perm(node))), x.t)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The input's type: the values move unchanged."""
    return pass_through_types(node, inputs)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The input's bounds, permuted."""
    lo, hi = one(node, inputs)
    return lo.transpose(_perm(node)), hi.transpose(_perm(node))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`transpose`: a permutation of up to three per-sample axes."""
    inputs_count(node, inputs, 1, "HLS")
    perm = list(_perm(node))
    if len(perm) > 3:
        raise unsupported(node, "HLS", f"it permutes {len(perm)} axes; the writer handles up to 3")
    lead = 3 - len(perm)
    dims = [1] * lead + list(inputs[0].shape)
    full_perm = list(range(lead)) + [p + lead for p in perm]
    consts = sizes(node, inputs)
    consts |= {f"d{i}": str(d) for i, d in enumerate(dims)}
    consts |= {f"perm{i}": str(p) for i, p in enumerate(full_perm)}
    return Lowering("transpose", consts)


SPEC = OpSpec(Op.TRANSPOSE, shape, run_float, run_fixed, (), "Transpose")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only in hls4ml-style firmware (a reordering of wires): no resources, no cycles."""
    del node, ctx
    return []
