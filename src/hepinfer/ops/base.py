"""The operator specification every `hepinfer.ops` module provides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, NodePrecision, TensorType
from hepinfer.ir.op import Op

FloatArray = npt.NDArray[np.float64]
#: what an op's `infer_types` hook returns: (output type, the node's complete precision)
Types = tuple[FixedType, NodePrecision]
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


def configured(node: Node, *variables: str) -> NodePrecision:
    """The node's precision, after checking that the configuration set every `variables`."""
    for var in variables:
        need(node, var)
    return node.precision


def result_types(node: Node, variables: Sequence[str] = ("result",)) -> Types:
    """`infer_types` of ops whose output is assigned to `result_t` and whose other types
    (`variables`) all come from the configuration.
    """
    return need(node, "result"), configured(node, *variables)


def pass_through_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`infer_types` of ops that move values without arithmetic (the input's type)."""
    n_inputs(node, inputs, 1)
    return inputs[0], node.precision
