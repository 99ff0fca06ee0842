"""Softsign: `x / (|x| + 1)`, table-based in fixed point like hls4ml's `nnet::softsign`.

hls4ml fills a table of `table_size` entries with `softsign_fcn_float` (`x / (|x| + 1.)` in
double, returned as a float) at the points `16 (i - N/2) / N` of [-8, 8), and indexes it like
its sigmoid: `index = int(x * N / 16) + N / 2`, clipped to the table. Inputs past 8 read the
last entry (8/9 ~ 0.889), so the output saturates where the float function keeps growing.
"""

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
SPAN = 16.0


def softsign_table_fn(x: npt.NDArray[Any]) -> FloatArray:
    """hls4ml's `softsign_fcn_float`: `x / (|x| + 1.)` in double, returned as a float."""
    x64 = np.asarray(x, dtype=np.float32).astype(np.float64)
    out: FloatArray = (x64 / (np.abs(x64) + 1.0)).astype(np.float32).astype(np.float64)
    return out


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    out: FloatArray = xs[0] / (np.abs(xs[0]) + 1.0)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return lut_fixed(node, xs[0], softsign_table_fn, SPAN, need(node, "result"))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t`, and the table type with hls4ml's default when the configuration left it unset."""
    del inputs
    tr, precision = result_types(node)
    return tr, dataclasses.replace(precision, table=table_type(node))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Increasing: the table at points within one table step of the bounds, within one step
    of the table type, inside (-1, 1).
    """
    lo, hi = one(node, inputs)
    return lut_interval(node, lo, hi, softsign_table_fn, SPAN, (-1.0, 1.0))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`lut`: the table of `softsign_table_fn` over [-SPAN / 2, SPAN / 2)."""
    return lowering(node, inputs, softsign_table_fn, SPAN)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A softsign table lookup per output element (table size and type from the node)."""
    return costing.activation(node, ctx, "softsign")


SPEC = OpSpec(Op.SOFTSIGN, same_shape, run_float, run_fixed, ("result", "table"), "Activation")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The table as a ROM behind hls4ml's index arithmetic (`lut.lut_rtl`)."""
    del inputs
    return lut_rtl(node, net, xs[0], softsign_table_fn, SPAN, need(node, "result"))


def native_lut(node: Node, x: FixedType) -> tuple[int, int, int, IntArray] | None:
    """The table lookup as a native program step for inputs of type `x` (`lut.lut_native`)."""
    return lut_native(node, x, softsign_table_fn, SPAN, need(node, "result"))
