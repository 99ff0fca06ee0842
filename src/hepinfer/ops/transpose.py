"""Transpose of the per-sample axes: `attrs['perm']` permutes the non-batch dimensions."""

from __future__ import annotations

from collections.abc import Sequence

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, pass_through_types
from hepinfer.ops.bounds import Interval, one
from hepinfer.ops.fxarray import FxArray


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


def interval(node: Node, inputs: Sequence[Interval]) -> Interval:
    """The input's bounds, permuted."""
    lo, hi = one(node, inputs)
    return lo.transpose(_perm(node)), hi.transpose(_perm(node))


SPEC = OpSpec(Op.TRANSPOSE, shape, run_float, run_fixed, (), "Transpose")
