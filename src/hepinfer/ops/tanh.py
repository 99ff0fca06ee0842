"""Tanh, table-based in fixed point like hls4ml (inputs in [-4, 4), 1024 entries)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, Types, need, result_types, same_shape
from hepinfer.ops.fxarray import FxArray
from hepinfer.ops.lut import lut_fixed, table_type


def _tanh32(x: npt.NDArray[Any]) -> FloatArray:
    return np.tanh(np.asarray(x, dtype=np.float32)).astype(np.float64)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    return np.tanh(xs[0])


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return lut_fixed(node, xs[0], _tanh32, 8.0, need(node, "result"))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t`, and the table type with hls4ml's default when the configuration left it unset."""
    del inputs
    tr, precision = result_types(node)
    return tr, dataclasses.replace(precision, table=table_type(node))


SPEC = OpSpec(Op.TANH, same_shape, run_float, run_fixed, ("result", "table"), "Activation")
