"""Tanh, table-based in fixed point like hls4ml (inputs in [-4, 4), 1024 entries)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, IntArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.bounds import Bounds, Interval, one
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering
from hepinfer.ops.lut import (
    lowering,
    lut_fixed,
    lut_interval,
    lut_native,
    lut_rtl,
    table_type,
)

#: the table covers inputs in [-SPAN / 2, SPAN / 2) (hls4ml's range)
SPAN = 8.0


def _tanh32(x: npt.NDArray[Any]) -> FloatArray:
    return np.tanh(np.asarray(x, dtype=np.float32)).astype(np.float64)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    return np.tanh(xs[0])


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return lut_fixed(node, xs[0], _tanh32, SPAN, need(node, "result"))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t`, and the table type with hls4ml's default when the configuration left it unset."""
    del inputs
    tr, precision = result_types(node)
    return tr, dataclasses.replace(precision, table=table_type(node))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Monotone: the table at points within one table step of the bounds, within one step of
    the table type, inside the function's range (-1.0, 1.0).
    """
    lo, hi = one(node, inputs)
    return lut_interval(node, lo, hi, _tanh32, SPAN, (-1.0, 1.0))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`lut`: the table of `tanh32` over [-SPAN / 2, SPAN / 2)."""
    return lowering(node, inputs, _tanh32, SPAN)


#: integer bits that cover the whole useful input range of this table (the table spans [-4, 4)): an `auto`
#: result read only by table activations keeps just these, saturating
TABLE_INPUT_BITS = 3


def auto_result(default: FixedType, hi: float | None) -> FixedType:
    """The `auto` result type: tanh is within (-1, 1), so two integer bits (sign included)."""
    del hi
    return FixedType(default.width, 2)


SPEC = OpSpec(Op.TANH, same_shape, run_float, run_fixed, ("result", "table"), "Activation")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A tanh table lookup per output element (table size and type from the node)."""
    return costing.activation(node, ctx, "tanh")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The table as a ROM behind hls4ml's index arithmetic (`lut.lut_rtl`)."""
    del inputs
    return lut_rtl(node, net, xs[0], _tanh32, SPAN, need(node, "result"))


def native_lut(node: Node, x: FixedType) -> tuple[int, int, int, IntArray] | None:
    """The table lookup as a native program step for inputs of type `x` (`lut.lut_native`)."""
    return lut_native(node, x, _tanh32, SPAN, need(node, "result"))
