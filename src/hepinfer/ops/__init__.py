"""One module per operator; this registry maps each `Op` to its `OpSpec`.

Registration is explicit (no import side effects): add the module to `_MODULES`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from hepinfer.errors import GraphError
from hepinfer.ir.op import Op
from hepinfer.ops import (
    add,
    avgpool,
    batchnorm,
    concat,
    conv1d,
    conv2d,
    dense,
    depthwise_conv2d,
    elu,
    flatten,
    global_avgpool,
    global_maxpool,
    hard_sigmoid,
    input_layer,
    leaky_relu,
    linear,
    maxpool,
    multiply,
    quant,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    tanh,
    transpose,
)
from hepinfer.ops.base import OpSpec

_MODULES: tuple[ModuleType, ...] = (
    add,
    avgpool,
    batchnorm,
    concat,
    conv1d,
    conv2d,
    dense,
    depthwise_conv2d,
    elu,
    flatten,
    global_avgpool,
    global_maxpool,
    hard_sigmoid,
    input_layer,
    leaky_relu,
    linear,
    maxpool,
    multiply,
    quant,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    tanh,
    transpose,
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


__all__ = ["MODULES", "REGISTRY", "OpSpec", "hook", "spec"]
