"""One module per operator; this registry maps each `Op` to its `OpSpec`.

Registration is explicit (no import side effects): add the module to `_MODULES`.
"""

from __future__ import annotations

from types import ModuleType

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
    tanh,
    transpose,
)

REGISTRY: dict[Op, OpSpec] = {m.SPEC.op: m.SPEC for m in _MODULES}


def spec(op: Op) -> OpSpec:
    """The specification of operator `op` (GraphError if hepinfer does not implement it)."""
    try:
        return REGISTRY[op]
    except KeyError:
        known = ", ".join(o.value for o in REGISTRY)
        msg = f"operator {op.value!r} has no implementation; implemented: {known}"
        raise GraphError(msg) from None


__all__ = ["REGISTRY", "OpSpec", "spec"]
