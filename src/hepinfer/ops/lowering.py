"""What an op's `hls` hook returns: its C++ kernel family, config constants, types and arrays.

`hepinfer.hls.layers` turns a `Lowering` into the template values of one layer (C names,
array files); everything op-specific (which kernel, which constants, which tables) lives in
the op's module. Arrays are given as mantissas of their type, built by the same functions
the emulator uses, so the firmware's constants equal the emulator's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hepinfer.errors import HlsError
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Node, TensorType

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class HlsArray:
    """A constant array of a layer: file prefix (`w` -> `w<index>`), its type's name in the
    layer (`weight` -> `<layer>_weight_t`), the type and the values as its mantissas.
    """

    prefix: str
    var: str
    fixed: FixedType
    mantissas: IntArray


@dataclass(frozen=True)
class Lowering:
    """One kernel call of the HLS project, as its op describes it.

    `consts`: the layer's config constants in the order the templates print them;
    `types`: typedefs of the layer (`weight_t`, ...); `pixel_input`: io_stream feeds it one
    pixel (the last axis) per word; `same_width`: io_stream output words are as wide as the
    input's (element-wise kernels).
    """

    kernel: str
    consts: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, FixedType] = field(default_factory=dict)
    arrays: tuple[HlsArray, ...] = ()
    pixel_input: bool = False
    same_width: bool = False


def sizes(node: Node, inputs: Sequence[TensorType]) -> dict[str, str]:
    """`n_in` (the first input's size) and `n_out`: the constants every layer has."""
    return {"n_in": str(inputs[0].size), "n_out": str(node.out.size)}


def fixed(node: Node, t: TensorType) -> FixedType:
    """The fixed-point type of tensor `t` read by `node` (HlsError when untyped)."""
    if t.fixed is None:
        msg = (
            f"node {node.name!r} ({node.op.value}) reads an untyped tensor; configure the "
            "graph first (hepinfer.passes.apply_config infers every type)"
        )
        raise HlsError(msg)
    return t.fixed


def need_exact(t: FixedType, what: str) -> None:
    """HlsError when `t` is wider than 53 bits (values go through float64)."""
    if t.width > 53:
        msg = (
            f"{what} has type {t} wider than 53 bits; the HLS writer stores and indexes values "
            "through float64, exact only up to 53 bits: choose a narrower type"
        )
        raise HlsError(msg)


def inputs_count(node: Node, inputs: Sequence[TensorType], count: int, target: str) -> None:
    """HlsError unless the node has `count` inputs (the kernel's arity)."""
    if len(inputs) != count:
        msg = (
            f"node {node.name!r} ({node.op.value}) with {len(inputs)} inputs has no {target} "
            f"kernel; the {target} writer's {node.op.value} takes {count}"
        )
        raise HlsError(msg)


def unsupported(node: Node, target: str, why: str) -> HlsError:
    """The error of an op (or an op's setting) that `target` cannot express."""
    return HlsError(f"node {node.name!r} ({node.op.value}) has no {target} kernel: {why}")


def reuse(node: Node) -> str:
    """The node's reuse factor as a constant."""
    return str(node.attrs.get("reuse_factor", 1))
