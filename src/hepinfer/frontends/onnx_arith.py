"""ONNX arithmetic with constants, N-ary Sum and Clip.

`Mul`, `Div`, `Add` and `Sub` with one constant operand become a BatchNormalization
(`y = x * scale + bias`, per channel or scalar; hls4ml's `ApplyAlpha` does the same), except
an `Add` of a constant right after a MatMul, which stays that Dense layer's bias. `Sum` of N
tensors is a chain of two-input Adds; `Mean` of two tensors (hls4ml's `Average`) an Average; `Clip` with constant bounds is a Clip (a ReLU when the
bounds are [0, inf)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepinfer.errors import FrontendError
from hepinfer.frontends import onnx_nodes
from hepinfer.frontends.onnx_nodes import Converter, FloatArray, OnnxContext
from hepinfer.ir.op import Op


def _per_channel(ctx: OnnxContext, node: Any, c: FloatArray, i: int) -> FloatArray | None:
    """Constant `c` broadcast against input i as one value per IR channel (last axis), or
    None when it varies along another axis.
    """
    src = ctx.src(node, i)
    shape = ctx.builder.shape(src)
    onnx_shape = (shape[-1], *shape[:-1]) if ctx.is_cl(node, i) else tuple(shape)
    try:
        full = np.broadcast_to(c, (1, *onnx_shape))[0]
    except ValueError:
        msg = (
            f"{node.op_type} {ctx.name(node)!r}: constant of shape {c.shape} does not broadcast "
            f"to the input's per-sample shape {onnx_shape}"
        )
        raise FrontendError(msg) from None
    if ctx.is_cl(node, i):
        full = np.moveaxis(full, 0, -1)
    rows = np.asarray(full, dtype=np.float64).reshape(-1, shape[-1])
    return rows[0].copy() if np.all(rows == rows[0]) else None


def scale_shift(
    ctx: OnnxContext, node: Any, data: int, scale: FloatArray, bias: FloatArray
) -> None:
    """`x * scale + bias` of input `data` (constants broadcast like ONNX) as a BatchNormalization."""
    s, b = _per_channel(ctx, node, scale, data), _per_channel(ctx, node, bias, data)
    layout = ctx.layout.get(str(node.input[data]), "ir")
    src = ctx.src(node, data)
    if (s is None or b is None) and layout == "ir" and len(ctx.builder.shape(src)) > 1:
        # NCHW in the IR: per-channel constants (C, 1, 1) vary along the IR's last axis;
        # move the channels last and try again
        src = ctx.channels_last(node, data)
        ctx.layout[str(node.input[data])] = "cl"
        ctx.tensors[str(node.input[data])] = src
        s, b = _per_channel(ctx, node, scale, data), _per_channel(ctx, node, bias, data)
        layout = "cl"
    if s is None or b is None:
        msg = (
            f"{node.op_type} {ctx.name(node)!r}: the constant varies along more than the channel "
            "axis; supported: a scalar or one value per channel"
        )
        raise FrontendError(msg)
    ir = ctx.builder.add(ctx.name(node), Op.BATCHNORM, [src], {}, {"scale": s, "bias": b})
    ctx.set(node, ir, layout)


def _one_constant(ctx: OnnxContext, node: Any) -> tuple[int, FloatArray] | None:
    """(index of the data input, the constant) when exactly one of two inputs is constant."""
    if len(node.input) != 2:
        return None
    c0, c1 = ctx.const(node, 0), ctx.const(node, 1)
    if (c0 is None) == (c1 is None):
        return None
    return (1, c0) if c0 is not None else (0, c1)  # type: ignore[return-value]


def _dense_bias(ctx: OnnxContext, node: Any) -> bool:
    """An Add of a constant right operand to a bias-free Dense read by nothing else."""
    src = str(node.input[0])
    if ctx.const(node, 1) is None or src not in ctx.tensors:
        return False
    prev = ctx.builder.node(ctx.tensors[src])
    used = any(prev.name in n.inputs for n in ctx.builder.nodes)
    return prev.op is Op.DENSE and not used and not np.any(prev.weights["bias"])


def add(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Add: tensors (Add), a MatMul's bias, or a constant shift."""
    one = _one_constant(ctx, node)
    after_alpha = ctx.tensors.get(str(node.input[0])) in ctx.alpha_nodes  # hls4ml's bn_<add>
    if one is None or _dense_bias(ctx, node) or (after_alpha and one[0] == 0):
        onnx_nodes.add(ctx, node, attrs)
        return
    data, c = one
    scale_shift(ctx, node, data, np.ones(1), c)


def sub(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Sub: tensors (Subtract), x - c or c - x."""
    if onnx_nodes.const_fold(ctx, node, np.subtract):
        return
    one = _one_constant(ctx, node)
    if one is None:
        onnx_nodes.CONVERTERS["Sub"](ctx, node, attrs)
        return
    data, c = one
    if data == 0:
        scale_shift(ctx, node, 0, np.ones(1), -c)
    else:
        scale_shift(ctx, node, 1, -np.ones(1), c)


def mul(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Mul: tensors (Multiply) or a constant scale."""
    one = _one_constant(ctx, node)
    if one is None:
        onnx_nodes.mul(ctx, node, attrs)
        return
    data, c = one
    scale_shift(ctx, node, data, c, np.zeros(1))


def div(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Div by a constant: a scale by its reciprocal."""
    del attrs
    if onnx_nodes.const_fold(ctx, node, np.divide):
        return
    c = ctx.const(node, 1)
    if c is None or ctx.const(node, 0) is not None:
        msg = f"Div {ctx.name(node)!r}: only a tensor divided by a constant is supported"
        raise FrontendError(msg)
    if np.any(c == 0):
        msg = f"Div {ctx.name(node)!r}: the constant divisor has zeros"
        raise FrontendError(msg)
    scale_shift(ctx, node, 0, 1.0 / c, np.zeros(1))


def sum_(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Sum of N tensors: Add(Add(x0, x1), x2) ... (one two-input Add per term)."""
    del attrs
    if onnx_nodes.const_fold(ctx, node, lambda *xs: np.sum(np.broadcast_arrays(*xs), axis=0)):
        return
    if any(ctx.const(node, i) is not None for i in range(len(node.input))):
        msg = f"Sum {ctx.name(node)!r}: constant terms are not supported (only tensors)"
        raise FrontendError(msg)
    layouts = {ctx.is_cl(node, i) for i in range(len(node.input))}
    if len(layouts) != 1:
        msg = f"Sum {ctx.name(node)!r}: inputs in different layouts are not supported"
        raise FrontendError(msg)
    acc = ctx.src(node, 0)
    for i in range(1, len(node.input)):
        name = ctx.name(node) if i == len(node.input) - 1 else f"{ctx.name(node)}_{i}"
        acc = ctx.builder.add(name, Op.ADD, [acc, ctx.src(node, i)])
    ctx.set(node, acc)


def mean(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """ONNX Mean of two tensors (and hls4ml's op type `Average`, which is not an ONNX
    operator) as the Average merge, `(a + b) * 0.5` like hls4ml's `nnet::average`; the Mean of
    one tensor is that tensor.
    """
    del attrs
    if onnx_nodes.const_fold(ctx, node, lambda *xs: np.mean(np.broadcast_arrays(*xs), axis=0)):
        return
    n = len(node.input)
    if n == 1 and ctx.const(node, 0) is None:
        ctx.set(node, ctx.src(node))
        return
    if n != 2 or ctx.const(node, 0) is not None or ctx.const(node, 1) is not None:
        msg = (
            f"{node.op_type} {ctx.name(node)!r} of inputs {list(node.input)} is not supported: "
            "hls4ml's Average merges two tensors (no constants), and a mean of more terms is "
            "not a chain of two-input averages; give each Mean two tensor inputs"
        )
        raise FrontendError(msg)
    a, b = ctx.src(node, 0), ctx.src(node, 1)
    if ctx.is_cl(node, 0) != ctx.is_cl(node, 1) or ctx.builder.shape(a) != ctx.builder.shape(b):
        msg = (
            f"{node.op_type} {ctx.name(node)!r}: inputs of shapes {ctx.builder.shape(a)} and "
            f"{ctx.builder.shape(b)} (or in different layouts) are not supported; the Average "
            "merge takes two tensors of one shape (no broadcasting)"
        )
        raise FrontendError(msg)
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.AVERAGE, [a, b]))


def clip(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Clip with constant bounds (attributes before opset 11, inputs after)."""
    if onnx_nodes.const_fold(ctx, node, lambda x, lo=None, hi=None: np.clip(x, lo, hi)):
        return
    bounds: list[float | None] = []
    for i, key in ((1, "min"), (2, "max")):
        c = ctx.const(node, i)
        has_input = i < len(node.input) and bool(node.input[i])
        if has_input and c is None:
            msg = f"Clip {ctx.name(node)!r}: the {key} bound must be a constant"
            raise FrontendError(msg)
        value = float(c.reshape(-1)[0]) if c is not None else attrs.get(key)
        bounds.append(None if value is None or abs(float(value)) >= 3e38 else float(value))
    lo, hi = bounds
    src = ctx.src(node)
    if lo is None and hi is None:
        ctx.set(node, src)
    elif lo == 0.0 and hi is None:
        ctx.set(node, ctx.builder.activation(ctx.name(node), "relu", src))
    else:
        ctx.set(node, ctx.builder.add(ctx.name(node), Op.CLIP, [src], {"min": lo, "max": hi}))


CONVERTERS: dict[str, Converter] = {
    "Add": add,
    "Sub": sub,
    "Mul": mul,
    "Div": div,
    "Sum": sum_,
    "Clip": clip,
    "Mean": mean,
    "Average": mean,
}
