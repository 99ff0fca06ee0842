"""The operator specification every `hepinfer.ops` module provides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops.fxarray import FxArray

FloatArray = npt.NDArray[np.float64]
ShapeFn = Callable[[Node, Sequence[TensorType]], tuple[int, ...]]
FloatFn = Callable[[Node, Sequence[FloatArray]], FloatArray]
FixedFn = Callable[[Node, Sequence[FxArray]], FxArray]


@dataclass(frozen=True)
class OpSpec:
    """What the compiler knows about one operator kind.

    - `shape`: output shape (no batch dimension) from the node and its input tensor types.
    - `run_float`: the float64 reference kernel (batch first).
    - `run_fixed`: the bit-exact kernel on fixed-point mantissas.
    - `precisions`: which precision variables the op uses (`result`, `accum`, `weight`,
      `bias`, `table`); the configuration fills exactly these.
    - `hls_name`: the matching hls4ml layer class (used for op-type level configuration).
    """

    op: Op
    shape: ShapeFn
    run_float: FloatFn
    run_fixed: FixedFn
    precisions: tuple[str, ...] = ("result",)
    hls_name: str = ""


def n_inputs(node: Node, inputs: Sequence[object], count: int) -> None:
    """Raise GraphError unless the node has exactly `count` inputs."""
    if len(inputs) != count:
        msg = f"node {node.name!r} ({node.op.value}) takes {count} input(s), got {len(inputs)}"
        raise GraphError(msg)


def same_shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    """Shape function of element-wise ops with one input."""
    n_inputs(node, inputs, 1)
    return inputs[0].shape


def need(node: Node, var: str) -> FixedType:
    """The node's precision `var` (GraphError if the configuration did not set it)."""
    t: FixedType | None = getattr(node.precision, var)
    if t is None:
        msg = (
            f"node {node.name!r} ({node.op.value}) has no {var} precision; "
            "compile the graph with a configuration (hepinfer.passes.apply_config)"
        )
        raise GraphError(msg)
    return t


def weight(node: Node, key: str) -> FloatArray:
    """The node's weight array `key` (GraphError if missing)."""
    try:
        return node.weights[key]
    except KeyError:
        msg = f"node {node.name!r} ({node.op.value}) has no weight {key!r}"
        raise GraphError(msg) from None
