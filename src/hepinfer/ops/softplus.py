"""Softplus: `log(1 + exp(x))`, table-based in fixed point like hls4ml's `nnet::softplus`.

hls4ml fills a table of `table_size` entries with `log(exp(x) + 1.)` (exp in float, the log
in double) at the points `16 (i - N/2) / N` of [-8, 8), and indexes it like its sigmoid:
`index = int(x * N / 16) + N / 2`, clipped to the table. Inputs past 8 read the last entry
(about 8.0003), so large inputs saturate where the float function keeps growing.
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


def softplus_table_fn(x: npt.NDArray[Any]) -> FloatArray:
    """hls4ml's `softplus_fcn_float`: `std::exp` of a float, then `log(e + 1.)` in double."""
    e = np.exp(np.asarray(x, dtype=np.float32)).astype(np.float64)
    out: FloatArray = np.log(e + 1.0)
    return out


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    out: FloatArray = np.logaddexp(0.0, xs[0])
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return lut_fixed(node, xs[0], softplus_table_fn, SPAN, need(node, "result"))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t`, and the table type with hls4ml's default when the configuration left it unset."""
    del inputs
    tr, precision = result_types(node)
    return tr, dataclasses.replace(precision, table=table_type(node))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Increasing: the table at points within one table step of the bounds, within one step
    of the table type, and positive.
    """
    lo, hi = one(node, inputs)
    return lut_interval(node, lo, hi, softplus_table_fn, SPAN, (0.0, np.inf))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`lut`: the table of `softplus_table_fn` over [-SPAN / 2, SPAN / 2)."""
    return lowering(node, inputs, softplus_table_fn, SPAN)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A softplus table lookup per output element (table size and type from the node)."""
    return costing.activation(node, ctx, "softplus")


SPEC = OpSpec(Op.SOFTPLUS, same_shape, run_float, run_fixed, ("result", "table"), "Activation")


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The table as a ROM behind hls4ml's index arithmetic (`lut.lut_rtl`)."""
    del inputs
    return lut_rtl(node, net, xs[0], softplus_table_fn, SPAN, need(node, "result"))


def native_lut(node: Node, x: FixedType) -> tuple[int, int, int, IntArray] | None:
    """The table lookup as a native program step for inputs of type `x` (`lut.lut_native`)."""
    return lut_native(node, x, softplus_table_fn, SPAN, need(node, "result"))
