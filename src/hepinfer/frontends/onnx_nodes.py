"""Converters for individual ONNX node types (one function each)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FrontendError
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.op import Op

FloatArray = npt.NDArray[np.float64]


@dataclass
class OnnxContext:
    """State while converting: ONNX tensor name -> IR node, constants, layouts."""

    builder: GraphBuilder
    tensors: dict[str, str] = field(default_factory=dict)
    consts: dict[str, FloatArray] = field(default_factory=dict)
    #: ONNX tensor -> "nc" (no spatial axes), "first" (ONNX NCHW order), "last" (IR order)
    layout: dict[str, str] = field(default_factory=dict)
    #: ONNX tensor -> quantiser description when it is a Quant'd constant
    quant: dict[str, dict[str, Any]] = field(default_factory=dict)

    def src(self, node: Any, i: int = 0) -> str:
        name = str(node.input[i])
        if name not in self.tensors:
            msg = f"ONNX node {node.name or node.output[0]!r} ({node.op_type}) reads {name!r}, which is constant or unknown here"
            raise FrontendError(msg)
        return self.tensors[name]

    def const(self, node: Any, i: int) -> FloatArray | None:
        if i >= len(node.input) or not node.input[i]:
            return None
        return self.consts.get(str(node.input[i]))

    def name(self, node: Any) -> str:
        return str(node.name or node.output[0])

    def set(self, node: Any, ir_name: str, layout: str | None = None) -> None:
        out = str(node.output[0])
        self.tensors[out] = ir_name
        src = str(node.input[0]) if node.input else out
        self.layout[out] = layout or self.layout.get(src, "nc")


Converter = Callable[[OnnxContext, Any, dict[str, Any]], None]


def _all_const(ctx: OnnxContext, node: Any) -> bool:
    return all(not i or i in ctx.consts for i in node.input)


def _const_fold(ctx: OnnxContext, node: Any, fn: Callable[..., FloatArray]) -> bool:
    if not _all_const(ctx, node):
        return False
    ctx.consts[str(node.output[0])] = np.asarray(fn(*[ctx.consts[i] for i in node.input if i]))
    return True


def _dense(ctx: OnnxContext, node: Any, kernel: FloatArray, bias: FloatArray | None) -> None:
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        msg = f"ONNX node {ctx.name(node)!r}: weight of shape {kernel.shape} is not a matrix"
        raise FrontendError(msg)
    b = np.zeros(kernel.shape[1]) if bias is None else np.broadcast_to(bias, (kernel.shape[1],))
    attrs: dict[str, Any] = {}
    for i, key in ((1, "kernel_quantizer"), (2, "bias_quantizer")):
        if i < len(node.input) and node.input[i] in ctx.quant:
            attrs[key] = ctx.quant[node.input[i]]
    ir = ctx.builder.add(
        ctx.name(node), Op.DENSE, [ctx.src(node)], attrs, {"kernel": kernel, "bias": b}
    )
    ctx.set(node, ir, "nc")


def gemm(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    if attrs.get("transA", 0):
        msg = f"Gemm {ctx.name(node)!r} with transA=1 is not supported (the data must be A)"
        raise FrontendError(msg)
    b = ctx.const(node, 1)
    if b is None:
        msg = f"Gemm {ctx.name(node)!r}: B must be a constant weight matrix"
        raise FrontendError(msg)
    kernel = b.T if attrs.get("transB", 0) else b
    kernel = kernel * float(attrs.get("alpha", 1.0))
    c = ctx.const(node, 2)
    bias = None if c is None else c.reshape(-1) * float(attrs.get("beta", 1.0))
    _dense(ctx, node, kernel, bias)


def matmul(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    del attrs
    if _const_fold(ctx, node, np.matmul):
        return
    w = ctx.const(node, 1)
    if w is None:
        msg = f"MatMul {ctx.name(node)!r}: only a constant right operand (weights) is supported"
        raise FrontendError(msg)
    _dense(ctx, node, w, None)


def add(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    del attrs
    if _const_fold(ctx, node, np.add):
        return
    c = ctx.const(node, 1)
    if c is not None:
        src = ctx.src(node)
        prev = ctx.builder.node(src)
        only_user = not any(src in n.inputs for n in ctx.builder.nodes)
        if prev.op is Op.DENSE and only_user and not np.any(prev.weights["bias"]):
            bias = np.broadcast_to(c.reshape(-1), prev.weights["bias"].shape)
            idx = ctx.builder.nodes.index(prev)
            new = prev.replace(weights={"kernel": prev.weights["kernel"], "bias": bias})
            attrs_q = dict(prev.attrs)
            if node.input[1] in ctx.quant:
                attrs_q["bias_quantizer"] = ctx.quant[node.input[1]]
            new = new.replace(attrs=attrs_q)
            ctx.builder.nodes[idx] = new
            ctx.builder._by_name[new.name] = new
            ctx.set(node, src)
            return
        msg = f"Add {ctx.name(node)!r} of a constant is only supported as the bias of a MatMul"
        raise FrontendError(msg)
    ir = ctx.builder.add(ctx.name(node), Op.ADD, [ctx.src(node, 0), ctx.src(node, 1)])
    ctx.set(node, ir)


def _activation(kind: str) -> Converter:
    def convert(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
        params: dict[str, Any] = {}
        if kind == "leaky_relu":
            params["alpha"] = float(attrs.get("alpha", 0.01))
        elif kind == "elu":
            params["alpha"] = float(attrs.get("alpha", 1.0))
        elif kind == "hard_sigmoid":
            params["slope"] = float(attrs.get("alpha", 0.2))
            params["shift"] = float(attrs.get("beta", 0.5))
        ir = ctx.builder.activation(ctx.name(node), kind, ctx.src(node), params)
        ctx.set(node, ir)

    return convert


def softmax(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    src = ctx.src(node)
    rank = len(ctx.builder.shape(src)) + 1
    axis = int(attrs.get("axis", 1 if rank == 2 else -1))
    if axis not in (-1, rank - 1) and not (ctx.layout.get(node.input[0]) == "first" and axis == 1):
        msg = f"Softmax {ctx.name(node)!r} over axis {axis} is not supported (last axis only)"
        raise FrontendError(msg)
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.SOFTMAX, [src]))


def batchnorm(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    params = [ctx.const(node, i) for i in range(1, 5)]
    if any(p is None for p in params):
        msg = f"BatchNormalization {ctx.name(node)!r}: scale, B, mean and var must be constants"
        raise FrontendError(msg)
    gamma, beta, mean, var = (np.asarray(p) for p in params)
    scale = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    ir = ctx.builder.add(
        ctx.name(node),
        Op.BATCHNORM,
        [ctx.src(node)],
        {},
        {"scale": scale, "bias": beta - mean * scale},
    )
    ctx.set(node, ir)


def identity(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    del attrs
    if _const_fold(ctx, node, lambda x, *_: x):
        return
    ctx.set(node, ctx.src(node))


def squeeze_like(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Unsqueeze/Squeeze of size-1 axes: a no-op on the per-sample data (e.g. around BN)."""
    del attrs
    src = ctx.src(node)
    shape = ctx.builder.shape(src)
    if len(shape) != 1:
        msg = f"{node.op_type} {ctx.name(node)!r} on a tensor of shape {shape} is not supported"
        raise FrontendError(msg)
    ctx.set(node, src)


def flatten(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    if int(attrs.get("axis", 1)) != 1:
        msg = f"Flatten {ctx.name(node)!r} with axis != 1 is not supported"
        raise FrontendError(msg)
    src = ctx.src(node)
    if len(ctx.builder.shape(src)) == 1:
        ctx.set(node, src, "nc")
        return
    if ctx.layout.get(str(node.input[0])) == "last":
        # data is channels-last in IR but ONNX flattens channels-first: transpose back first
        shape = ctx.builder.shape(src)
        perm = (len(shape) - 1, *range(len(shape) - 1))
        src = ctx.builder.add(ctx.name(node) + "_to_first", Op.TRANSPOSE, [src], {"perm": perm})
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.FLATTEN, [src]), "nc")


def quant(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """QONNX Quant(x, scale, zeropt, bitwidth)."""
    scale, zero, bits = (ctx.const(node, i) for i in (1, 2, 3))
    if scale is None or zero is None or bits is None:
        msg = f"Quant {ctx.name(node)!r}: scale, zero point and bit width must be constants"
        raise FrontendError(msg)
    q = {
        "scale": float(np.max(scale)),
        "zeropt": float(np.max(zero)),
        "bitwidth": int(np.max(bits)),
        "signed": bool(attrs.get("signed", 1)),
        "narrow": bool(attrs.get("narrow", 0)),
        "rounding_mode": str(
            attrs.get("rounding_mode", b"ROUND").decode()
            if isinstance(attrs.get("rounding_mode"), bytes)
            else attrs.get("rounding_mode", "ROUND")
        ),
    }
    if np.unique(scale).size > 1 or np.any(zero != 0):
        msg = f"Quant {ctx.name(node)!r}: only a single scale and zero point 0 are supported"
        raise FrontendError(msg)
    x = ctx.const(node, 0)
    if x is not None:
        ctx.consts[str(node.output[0])] = quantize(x, q)
        ctx.quant[str(node.output[0])] = q
        return
    ir = ctx.builder.add(ctx.name(node), Op.QUANT, [ctx.src(node)], q)
    ctx.set(node, ir)


def quantize(x: FloatArray, q: dict[str, Any]) -> FloatArray:
    """QONNX Quant semantics in float: round(x / scale) clipped to the integer range, * scale."""
    from hepinfer.ops.quant import quantize_float

    return quantize_float(x, q)


def constant(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    from onnx import numpy_helper

    value = attrs.get("value")
    if value is None:
        msg = f"Constant {ctx.name(node)!r} without a tensor 'value' is not supported"
        raise FrontendError(msg)
    ctx.consts[str(node.output[0])] = numpy_helper.to_array(value).astype(np.float64)


CONVERTERS: dict[str, Converter] = {
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": add,
    "Relu": _activation("relu"),
    "Sigmoid": _activation("sigmoid"),
    "Tanh": _activation("tanh"),
    "LeakyRelu": _activation("leaky_relu"),
    "Elu": _activation("elu"),
    "HardSigmoid": _activation("hard_sigmoid"),
    "Softmax": softmax,
    "BatchNormalization": batchnorm,
    "Identity": identity,
    "Dropout": identity,
    "Unsqueeze": squeeze_like,
    "Squeeze": squeeze_like,
    "Flatten": flatten,
    "Quant": quant,
    "Constant": constant,
}
