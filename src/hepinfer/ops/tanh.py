"""Tanh, table-based in fixed point like hls4ml (inputs in [-4, 4), 1024 entries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops.base import FloatArray, OpSpec, need, same_shape
from hepinfer.ops.fxarray import FxArray
from hepinfer.ops.lut import lut_fixed


def _tanh32(x: npt.NDArray[Any]) -> FloatArray:
    return np.tanh(np.asarray(x, dtype=np.float32)).astype(np.float64)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    del node
    return np.tanh(xs[0])


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return lut_fixed(node, xs[0], _tanh32, 8.0, need(node, "result"))


SPEC = OpSpec(Op.TANH, same_shape, run_float, run_fixed, ("result", "table"), "Activation")


# ---------------------------------------------------------------------------- cost (estimate)
# Target hooks are appended below SPEC (one home per operator, hepinfer.ops.hook).
from hepinfer.ops import costing
from hepinfer.ops.cost import LayerCost, NodeContext


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A tanh table lookup per output element (table size and type from the node)."""
    return costing.activation(node, ctx, "tanh")
