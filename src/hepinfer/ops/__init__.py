"""One module per operator; this registry maps each `Op` to its `OpSpec`.

Registration is explicit (no import side effects): add the module to `_MODULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from hepinfer.errors import GraphError
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.ops import (
    add,
    average,
    avgpool,
    batchnorm,
    bipolar_quant,
    bit_exact_softmax,
    clip,
    concat,
    conv1d,
    conv2d,
    conv_transpose,
    cropping,
    dense,
    depthwise_conv1d,
    depthwise_conv2d,
    dot,
    einsum,
    einsum_dense,
    elu,
    embedding,
    fixed_point_quantizer,
    flatten,
    garnet,
    garnet_stack,
    global_avgpool,
    global_maxpool,
    gru,
    hard_sigmoid,
    input_layer,
    layernorm,
    leaky_relu,
    linear,
    lstm,
    maximum,
    maxpool,
    minimum,
    multiply,
    multithreshold,
    prelu,
    quant,
    relu,
    reshape,
    selu,
    sigmoid,
    simple_rnn,
    softmax,
    softplus,
    softsign,
    subtract,
    tanh,
    thresholded_relu,
    transpose,
    unary_lut,
    upsampling,
    zero_padding,
)
from hepinfer.ops.base import OpSpec

_MODULES: tuple[ModuleType, ...] = (
    add,
    average,
    avgpool,
    batchnorm,
    bipolar_quant,
    clip,
    concat,
    conv1d,
    conv2d,
    dense,
    depthwise_conv2d,
    elu,
    flatten,
    global_avgpool,
    global_maxpool,
    gru,
    hard_sigmoid,
    input_layer,
    leaky_relu,
    linear,
    maximum,
    lstm,
    maxpool,
    minimum,
    multiply,
    multithreshold,
    quant,
    prelu,
    relu,
    reshape,
    selu,
    sigmoid,
    simple_rnn,
    softmax,
    softplus,
    softsign,
    subtract,
    tanh,
    thresholded_relu,
    transpose,
    cropping,
    upsampling,
    zero_padding,
    depthwise_conv1d,
    embedding,
    dot,
    layernorm,
    einsum_dense,
    einsum,
    fixed_point_quantizer,
    garnet,
    garnet_stack,
    unary_lut,
    bit_exact_softmax,
    conv_transpose,
)

REGISTRY: dict[Op, OpSpec] = {m.SPEC.op: m.SPEC for m in _MODULES}
#: op -> the module that owns everything about it (semantics and one hook per target)
MODULES: dict[Op, ModuleType] = {m.SPEC.op: m for m in _MODULES}


def spec(op: Op) -> OpSpec:
    """The specification of operator `op` (GraphError if hepinfer does not implement it)."""
    try:
        return REGISTRY[op]
    except KeyError:
        known = ", ".join(o.value for o in REGISTRY)
        msg = f"operator {op.value!r} has no implementation; implemented: {known}"
        raise GraphError(msg) from None


def hook(op: Op, target: str) -> Callable[..., Any]:
    """The function `target` (e.g. ``"cost"``, ``"hls"``) of operator `op`'s module.

    Each target (HLS lowering, estimate, interval rule, ...) is one module-level function
    named after the target in every op module; an op that a target cannot express defines
    it to raise a clear error. GraphError names the op and the target when it is missing.
    """
    module = MODULES.get(op)
    fn = getattr(module, target, None) if module is not None else None
    if not callable(fn):
        msg = (
            f"operator {op.value!r} has no {target!r} hook: add `def {target}(...)` to its "
            f"module hepinfer.ops.<op> (see docs/adding-an-operator.md)"
        )
        raise GraphError(msg)
    return fn  # type: ignore[no-any-return]


def optional(op: Op, name: str) -> Any:
    """The module attribute `name` of operator `op` that only some ops define (a hook such
    as ``accumulated_terms`` or a constant such as ``TABLE_INPUT_BITS``), or None.
    """
    module = MODULES.get(op)
    return getattr(module, name, None) if module is not None else None


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int | None:
    """How many values one accumulator of `node` sums (its op's ``accumulated_terms`` hook),
    or None when the op has no accumulator whose `auto` type is inferred from that count.
    """
    fn = optional(node.op, "accumulated_terms")
    return None if fn is None else int(fn(node, input_shapes))


def table_input_bits(op: Op) -> int | None:
    """The integer bits that cover the useful input range of a table-based activation (its
    module's ``TABLE_INPUT_BITS``), or None for an op that reads no table by its input.
    """
    bits = optional(op, "TABLE_INPUT_BITS")
    return None if bits is None else int(bits)


__all__ = [
    "MODULES",
    "REGISTRY",
    "OpSpec",
    "accumulated_terms",
    "hook",
    "optional",
    "spec",
    "table_input_bits",
]
