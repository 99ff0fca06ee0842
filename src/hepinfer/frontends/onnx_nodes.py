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
from hepinfer.ops.conv import same_pads

FloatArray = npt.NDArray[np.float64]


@dataclass
class OnnxContext:
    """State while converting: ONNX tensor name -> IR node, constants, layouts."""

    builder: GraphBuilder
    tensors: dict[str, str] = field(default_factory=dict)
    consts: dict[str, FloatArray] = field(default_factory=dict)
    #: ONNX tensor -> "ir": the IR tensor has the ONNX tensor's per-sample layout; "cl": the
    #: ONNX tensor is channels-first (NCHW) and the IR holds it channels-last (NHWC)
    layout: dict[str, str] = field(default_factory=dict)
    #: ONNX tensor -> quantiser description when it is a Quant'd constant
    quant: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the model has QONNX channels-last nodes: its 4D/3D tensors are NHWC / NWC in ONNX
    channels_last_model: bool = False
    #: ONNX outputs of recurrent nodes -> their converter (`hepinfer.frontends.onnx_recurrent`)
    recurrent: dict[str, Any] = field(default_factory=dict)
    #: ONNX tensor -> the ApplyAlpha rescales (hepinfer.frontends.onnx_alpha) not yet added
    #: after it: a MatMul reading it moves them below itself, any other reader adds them
    pending: dict[str, list[Any]] = field(default_factory=dict)
    #: Quant'd constant of a float scale -> its rescale (`onnx_alpha.Rescale`)
    const_alpha: dict[str, Any] = field(default_factory=dict)
    #: IR nodes that are hls4ml's ApplyAlpha layers (an Add of a constant after one: another)
    alpha_nodes: set[str] = field(default_factory=set)

    def src(self, node: Any, i: int = 0) -> str:
        name = str(node.input[i])
        if name not in self.tensors:
            msg = f"ONNX node {node.name or node.output[0]!r} ({node.op_type}) reads {name!r}, which is constant or unknown here"
            raise FrontendError(msg)
        return self.materialise(name)

    def materialise(self, name: str) -> str:
        """The IR tensor of ONNX tensor `name`, its pending rescales added first."""
        rescales = self.pending.pop(name, None)
        if rescales:
            from hepinfer.frontends.onnx_alpha import apply_alpha

            ir = self.tensors[name]
            for r in rescales:
                ir = apply_alpha(self, r.name, ir, r.scale, r.bias, r.config_of)
            self.tensors[name] = ir
        return self.tensors[name]

    def unscaled(self, node: Any, i: int = 0) -> tuple[str, list[Any]]:
        """Input i without its pending rescales, and those rescales (moved by the caller)."""
        name = str(node.input[i])
        rescales = list(self.pending.get(name, []))
        if not rescales:
            return self.src(node, i), []
        return self.tensors[name], rescales

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
        self.layout[out] = layout or self.layout.get(src, "ir")

    def is_cl(self, node: Any, i: int = 0) -> bool:
        return self.layout.get(str(node.input[i]), "ir") == "cl"

    def channels_last(self, node: Any, i: int = 0) -> str:
        """IR name of input i in channels-last order (transposing an NCHW-ordered IR tensor)."""
        src = self.src(node, i)
        if self.is_cl(node, i):
            return src
        rank = len(self.builder.shape(src))
        perm = (*range(1, rank), 0)
        return self.builder.add(self.name(node) + "_to_last", Op.TRANSPOSE, [src], {"perm": perm})

    def channels_first(self, node: Any, i: int = 0) -> str:
        """IR name of input i in ONNX order (transposing a channels-last IR tensor back)."""
        src = self.src(node, i)
        if not self.is_cl(node, i):
            return src
        rank = len(self.builder.shape(src))
        perm = (rank - 1, *range(rank - 1))
        return self.builder.add(self.name(node) + "_to_first", Op.TRANSPOSE, [src], {"perm": perm})


Converter = Callable[[OnnxContext, Any, dict[str, Any]], None]


def _all_const(ctx: OnnxContext, node: Any) -> bool:
    return all(not i or i in ctx.consts for i in node.input)


def const_fold(ctx: OnnxContext, node: Any, fn: Callable[..., FloatArray]) -> bool:
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
    src, rescales = ctx.unscaled(node)
    if not all(r.movable for r in rescales):  # a zero point or per-channel scales: above it
        src, rescales = ctx.src(node), []
    weight_alpha = ctx.const_alpha.get(str(node.input[1]))
    if weight_alpha is not None:  # one scale, or one per output (Gemm transB: transposed)
        scale = np.asarray(weight_alpha.scale)
        if scale.ndim == 2 and scale.shape != kernel.shape:
            weight_alpha = weight_alpha.transposed(None)
        per_out = weight_alpha.per_output(f"ONNX node {ctx.name(node)!r}", 1)
        rescales.append(type(weight_alpha)(weight_alpha.name, per_out, weight_alpha.config_of))
    if not rescales:
        ir = ctx.builder.add(ctx.name(node), Op.DENSE, [src], attrs, {"kernel": kernel, "bias": b})
        ctx.set(node, ir, "ir")
        return
    # hls4ml 1.3 moves float-scale rescales below the product (onnx_alpha), the bias after
    # them as its own ApplyAlpha
    zero = {"kernel": kernel, "bias": np.zeros(kernel.shape[1])}
    ir = ctx.builder.add(ctx.name(node), Op.DENSE, [src], attrs, zero)
    from hepinfer.frontends.onnx_alpha import UNIT_SCALE, apply_alpha

    for r in rescales:
        ir = apply_alpha(ctx, r.name, ir, r.scale, 0.0, r.config_of)
    if bias is not None:
        name = f"bn_{ctx.name(node)}"
        ir = apply_alpha(ctx, name, ir, 1.0, b, ctx.name(node), UNIT_SCALE)
    ctx.set(node, ir, "ir")


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
    if const_fold(ctx, node, np.matmul):
        return
    w = ctx.const(node, 1)
    if w is None:
        msg = f"MatMul {ctx.name(node)!r}: only a constant right operand (weights) is supported"
        raise FrontendError(msg)
    _dense(ctx, node, w, None)


def add(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    del attrs
    if const_fold(ctx, node, np.add):
        return
    c = ctx.const(node, 1)
    if c is not None:
        src = ctx.src(node)
        prev = ctx.builder.node(src)
        only_user = not any(src in n.inputs for n in ctx.builder.nodes)
        if src in ctx.alpha_nodes:  # hls4ml: an Add of a constant becomes an ApplyAlpha
            from hepinfer.frontends.onnx_alpha import UNIT_SCALE, apply_alpha

            name = ctx.name(node)
            ctx.set(node, apply_alpha(ctx, f"bn_{name}", src, 1.0, c, name, UNIT_SCALE))
            return
        if prev.op is Op.DENSE and only_user and not np.any(prev.weights["bias"]):
            bias = np.broadcast_to(c.reshape(-1), prev.weights["bias"].shape)
            new = prev.replace(weights={"kernel": prev.weights["kernel"], "bias": bias})
            attrs_q = dict(prev.attrs)
            if node.input[1] in ctx.quant:
                attrs_q["bias_quantizer"] = ctx.quant[node.input[1]]
            new = new.replace(attrs=attrs_q)
            ctx.builder.replace(new)
            ctx.set(node, src)
            return
        msg = f"Add {ctx.name(node)!r} of a constant is only supported as the bias of a MatMul"
        raise FrontendError(msg)
    ir = ctx.builder.add(ctx.name(node), Op.ADD, [ctx.src(node, 0), ctx.src(node, 1)])
    ctx.set(node, ir)


def activation_converter(kind: str) -> Converter:
    """The converter of an element-wise activation `kind` (a name of builder.ACTIVATIONS)."""
    return _activation(kind)


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


def selu(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Selu with its default alpha and gamma (hls4ml's kernel has them built in)."""
    alpha, gamma = (
        float(attrs.get("alpha", 1.67326319217681884765625)),
        float(attrs.get("gamma", 1.05070102214813232421875)),
    )
    if abs(alpha - 1.6732632423543772) > 1e-6 or abs(gamma - 1.0507009873554805) > 1e-6:
        msg = (
            f"Selu {ctx.name(node)!r} with alpha={alpha}, gamma={gamma} is not supported; "
            "supported: the default alpha 1.6733 and gamma 1.0507 (hls4ml's SELU)"
        )
        raise FrontendError(msg)
    ctx.set(node, ctx.builder.activation(ctx.name(node), "selu", ctx.src(node)))


def thresholded_relu(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    theta = {"theta": float(attrs.get("alpha", 1.0))}
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.THRESHOLDED_RELU, [ctx.src(node)], theta))


def prelu(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """PRelu with a constant slope, broadcast to the input (in the IR's channels-last order)."""
    del attrs
    slope = ctx.const(node, 1)
    if slope is None:
        msg = f"PRelu {ctx.name(node)!r}: the slope must be a constant (an initializer)"
        raise FrontendError(msg)
    src = ctx.src(node)
    shape = ctx.builder.shape(src)
    onnx_shape = (shape[-1], *shape[:-1]) if ctx.is_cl(node) else tuple(shape)
    try:
        alpha = np.broadcast_to(slope, (1, *onnx_shape))[0]
    except ValueError:
        msg = f"PRelu {ctx.name(node)!r}: slope {slope.shape} does not broadcast to {onnx_shape}"
        raise FrontendError(msg) from None
    if ctx.is_cl(node):
        alpha = np.moveaxis(alpha, 0, -1)
    ir = ctx.builder.add(ctx.name(node), Op.PRELU, [src], {}, {"alpha": np.array(alpha)})
    ctx.set(node, ir)


def softmax(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    src = ctx.src(node)
    rank = len(ctx.builder.shape(src)) + 1
    axis = int(attrs.get("axis", 1 if rank == 2 else -1))
    if axis not in (-1, rank - 1) and not (ctx.is_cl(node) and axis == 1):
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
    layout = ctx.layout.get(str(node.input[0]), "ir")
    if layout == "bt":
        msg = (
            f"BatchNormalization {ctx.name(node)!r} normalises the batch axis (its input was "
            "transposed with perm [1, 0]); supported: that transpose, an Unsqueeze to "
            "(1, C, N), the BatchNormalization, and the way back"
        )
        raise FrontendError(msg)
    src = ctx.src(node)
    if channels_last_domain(node):  # QONNX channels-last: NHWC in ONNX, as in the IR
        src, layout = ctx.channels_first(node), "ir"
    elif layout == "ir" and len(ctx.builder.shape(src)) > 1:  # NCHW: channels to the end
        src, layout = ctx.channels_last(node), "cl"
    ir = ctx.builder.add(
        ctx.name(node),
        Op.BATCHNORM,
        [src],
        {},
        {"scale": scale, "bias": beta - mean * scale},
    )
    ctx.set(node, ir, layout)


def identity(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    del attrs
    if const_fold(ctx, node, lambda x, *_: x):
        return
    ctx.set(node, ctx.src(node))


def squeeze_like(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Unsqueeze/Squeeze of size-1 axes: a no-op on the per-sample data (e.g. around BN)."""
    if const_fold(ctx, node, lambda x, *_: x):
        return
    src = ctx.src(node)
    shape = ctx.builder.shape(src)
    layout = ctx.layout.get(str(node.input[0]), "ir")
    if layout in ("bt", "bt1"):
        _batch_moved_squeeze(ctx, node, attrs, layout)
        return
    if len(shape) != 1:
        msg = f"{node.op_type} {ctx.name(node)!r} on a tensor of shape {shape} is not supported"
        raise FrontendError(msg)
    ctx.set(node, src)


def _axes(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> list[int]:
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    axes = ctx.const(node, 1)
    return [] if axes is None else [int(a) for a in axes.reshape(-1)]


def _batch_moved_squeeze(ctx: OnnxContext, node: Any, attrs: dict[str, Any], layout: str) -> None:
    """(C, N) <-> (1, C, N): the keras2onnx BatchNormalization pattern with the batch moved."""
    axes = _axes(ctx, node, attrs)
    if node.op_type == "Unsqueeze" and layout == "bt" and axes == [0]:
        ctx.set(node, ctx.src(node), "bt1")
        return
    if node.op_type == "Squeeze" and layout == "bt1" and axes in ([0], []):
        ctx.set(node, ctx.src(node), "bt")
        return
    msg = (
        f"{node.op_type} {ctx.name(node)!r} with axes {axes} on a tensor whose batch axis was "
        "moved by a Transpose; supported: Unsqueeze axes [0] to (1, C, N) and Squeeze back"
    )
    raise FrontendError(msg)


def flatten(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    # axis 0 (keras2onnx exports with batch 1) flattens the batch too: per sample the same
    if int(attrs.get("axis", 1)) not in (0, 1):
        msg = f"Flatten {ctx.name(node)!r} with axis {attrs['axis']} is not supported (0 or 1)"
        raise FrontendError(msg)
    src = ctx.src(node)
    if len(ctx.builder.shape(src)) == 1:
        ctx.set(node, src, "ir")
        return
    src = ctx.channels_first(node)  # ONNX flattens in its own (channels-first) order
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.FLATTEN, [src]), "ir")


def transpose(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    c = ctx.const(node, 0)
    if c is not None:
        # a quantised weight transposed before its MatMul (Brevitas' QuantLinear without
        # bias): the constant folded, its quantiser kept (one scale: it does not move)
        perm = attrs.get("perm")
        out = str(node.output[0])
        ctx.consts[out] = np.transpose(c, None if perm is None else [int(p) for p in perm])
        if str(node.input[0]) in ctx.quant:
            ctx.quant[out] = ctx.quant[str(node.input[0])]
        if str(node.input[0]) in ctx.const_alpha:
            axes = None if perm is None else [int(p) for p in perm]
            ctx.const_alpha[out] = ctx.const_alpha[str(node.input[0])].transposed(axes)
        return
    src = ctx.src(node)
    rank = len(ctx.builder.shape(src))
    perm = [int(p) for p in attrs.get("perm", range(rank, -1, -1))]
    layout = ctx.layout.get(str(node.input[0]), "ir")
    if perm == [1, 0] and layout in ("ir", "bt") and rank == 1:
        # keras2onnx around a BatchNormalization of (N, C): (N, C) -> (C, N) and back; the
        # IR keeps one C-vector per sample, the layout remembers where ONNX has the batch
        ctx.set(node, src, "ir" if layout == "bt" else "bt")
        return
    if perm[0] != 0 or layout not in ("ir", "cl"):
        msg = (
            f"Transpose {ctx.name(node)!r} moves the batch axis (perm {perm}); supported: "
            "perm [1, 0] of an (N, C) tensor undone by a later perm [1, 0]"
        )
        raise FrontendError(msg)
    p = tuple(q - 1 for q in perm[1:])
    to_first = (rank - 1, *range(rank - 1))
    to_last = (*range(1, rank), 0)
    if not ctx.is_cl(node) and p == to_first and rank > 1:
        ctx.set(node, src, "cl")  # the IR keeps channels-last; ONNX now sees NCHW
        return
    if ctx.is_cl(node) and p == to_last:
        ctx.set(node, src, "ir")
        return
    if ctx.is_cl(node):
        p = tuple(to_first[i] for i in p)
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.TRANSPOSE, [src], {"perm": p}), "ir")


def _spatial(
    ctx: OnnxContext,
    node: Any,
    attrs: dict[str, Any],
    kernel: tuple[int, ...],
    in_shape: tuple[int, ...],
) -> dict[str, Any]:
    n = len(kernel)
    strides = tuple(int(v) for v in attrs.get("strides", (1,) * n))
    dilations = tuple(int(v) for v in attrs.get("dilations", (1,) * n))
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = same_pads(in_shape, kernel, strides, dilations)
        if auto == "SAME_LOWER":
            pads = (*pads[n:], *pads[:n])
    elif auto in ("NOTSET", "VALID"):
        pads = tuple(int(v) for v in attrs.get("pads", (0,) * (2 * n)))
    else:
        msg = f"{node.op_type} {ctx.name(node)!r}: auto_pad {auto!r} is not supported"
        raise FrontendError(msg)
    return {"strides": strides, "dilations": dilations, "pads": pads}


def grouped_kernel(w: FloatArray, group: int) -> FloatArray:
    """The dense `(*k, C, F)` kernel of an ONNX grouped kernel `(F, C / group, *k)`.

    Filter f of group g = f // (F / group) reads input channels g * C / group ... ; every
    other tap is 0. With zero products adding exact zeros, the block-diagonal convolution
    computes each output bit for bit as the grouped one (same non-zero terms, same order).
    """
    f, c_group = int(w.shape[0]), int(w.shape[1])
    f_group = f // group
    dense = np.zeros((f, c_group * group, *w.shape[2:]))
    for g in range(group):
        rows = slice(g * f_group, (g + 1) * f_group)
        dense[rows, g * c_group : (g + 1) * c_group] = w[rows]
    return np.moveaxis(dense, (0, 1), (-1, -2))


def conv(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    w = ctx.const(node, 1)
    if w is None:
        msg = f"Conv {ctx.name(node)!r}: weights must be constant"
        raise FrontendError(msg)
    rank = w.ndim - 2
    if rank not in (1, 2):
        msg = f"Conv {ctx.name(node)!r}: {rank}D convolutions are not supported (1D, 2D)"
        raise FrontendError(msg)
    # QONNX's channels-last Conv reads and writes NHWC tensors; its ConvertToChannelsLast
    # transposes the weights too, to (F, *k, C) (QONNX executes it by transposing both back)
    if channels_last_domain(node):
        w = np.moveaxis(w, -1, 1)
    held = ctx.pending.pop(str(node.input[0]), None)  # float-scale rescales: moved below
    if held and not all(r.movable for r in held):  # a zero point or per-channel: added above
        ctx.pending[str(node.input[0])], held = held, None
    src = ctx.channels_first(node) if channels_last_domain(node) else ctx.channels_last(node)
    if held:
        ctx.pending[str(node.input[0])] = held
    in_shape = ctx.builder.shape(src)
    kernel = np.moveaxis(w, (0, 1), (-1, -2))  # (F, C, *k) -> (*k, C, F)
    b = ctx.const(node, 2)
    bias = np.zeros(w.shape[0]) if b is None else b
    geo = _spatial(ctx, node, attrs, tuple(w.shape[2:]), in_shape[:rank])
    group = int(attrs.get("group", 1))
    channels = int(in_shape[-1])
    op = Op.CONV1D if rank == 1 else Op.CONV2D
    if group == 1:
        pass
    elif rank == 2 and group == channels == w.shape[0] and w.shape[1] == 1:
        op = Op.DEPTHWISE_CONV2D
        kernel = (
            np.moveaxis(w, 0, -1)
            .transpose(1, 2, 3, 0)[..., :1]
            .reshape(*w.shape[2:], w.shape[0], 1)
        )
    elif group > 1 and channels % group == 0 and w.shape[0] % group == 0:
        if w.shape[1] * group != channels:
            msg = (
                f"Conv {ctx.name(node)!r}: weight {w.shape} with group={group} expects "
                f"{w.shape[1] * group} input channels, the input has {channels}"
            )
            raise FrontendError(msg)
        kernel = grouped_kernel(w, group)
    else:
        msg = (
            f"Conv {ctx.name(node)!r}: group={group} does not divide the {channels} input "
            f"channels and the {w.shape[0]} filters; supported: a group count dividing both"
        )
        raise FrontendError(msg)
    attrs_q = (
        {"kernel_quantizer": ctx.quant[str(node.input[1])]} if node.input[1] in ctx.quant else {}
    )
    weights = {"kernel": kernel, "bias": bias}
    ir = ctx.builder.add(ctx.name(node), op, [src], {**geo, **attrs_q}, weights)
    weight_alpha = ctx.const_alpha.get(str(node.input[1]))
    if held or weight_alpha is not None:
        from hepinfer.frontends.onnx_alpha import conv_rescale

        ir = conv_rescale(ctx, ir, held or [], weight_alpha, None if b is None else bias)
    ctx.set(node, ir, "ir" if channels_last_domain(node) else "cl")


def conv_transpose(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """ConvTranspose (hls4ml 1.3 has no handler) as hepinfer's ConvTranspose, 1D and 2D,
    `group` 1, dilation 1: the weight `(C, F, *k)` flipped and its channel axes swapped;
    `pads`, `output_padding`, and `output_shape` / `auto_pad` SAME_UPPER / SAME_LOWER as the
    ONNX specification computes the pads from them (`total = s * (in - 1) + output_padding +
    k - out`, the odd position at the end for SAME_UPPER, at the start otherwise).
    """
    name = ctx.name(node)
    w = ctx.const(node, 1)
    if w is None or w.ndim not in (3, 4):
        msg = f"ConvTranspose {name!r}: the weight must be a constant of 1 or 2 spatial axes"
        raise FrontendError(msg)
    rank = w.ndim - 2
    k = tuple(int(d) for d in w.shape[2:])
    group = int(attrs.get("group", 1))
    dilations = tuple(int(v) for v in attrs.get("dilations", (1,) * rank))
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if (
        group != 1
        or dilations != (1,) * rank
        or auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")
    ):
        msg = (
            f"ConvTranspose {name!r}: group={group}, dilations={dilations}, auto_pad={auto!r} "
            "is not supported; supported: group 1, dilation 1, auto_pad NOTSET, VALID, "
            "SAME_UPPER or SAME_LOWER"
        )
        raise FrontendError(msg)
    src = ctx.channels_last(node)
    in_shape = ctx.builder.shape(src)[:rank]
    strides = tuple(int(v) for v in attrs.get("strides", (1,) * rank))
    extra = tuple(int(v) for v in attrs.get("output_padding", (0,) * rank))
    pads = tuple(int(v) for v in attrs.get("pads", (0,) * (2 * rank)))
    wanted = attrs.get("output_shape")
    if wanted is not None or auto.startswith("SAME"):
        if wanted is not None:
            out = tuple(int(v) for v in wanted)[-rank:]
        else:
            out = tuple(in_shape[i] * strides[i] for i in range(rank))
        total = [strides[i] * (in_shape[i] - 1) + extra[i] + k[i] - out[i] for i in range(rank)]
        if auto == "SAME_UPPER":
            pads = (*(t // 2 for t in total), *(t - t // 2 for t in total))
        else:
            pads = (*(t - t // 2 for t in total), *(t // 2 for t in total))
    kernel = np.flip(w, axis=tuple(range(2, 2 + rank))).transpose(*range(2, 2 + rank), 0, 1)
    b = ctx.const(node, 2)
    bias = np.zeros(w.shape[1]) if b is None else b
    geo = {"strides": strides, "pads": pads, "output_padding": extra}
    weights = {"kernel": np.ascontiguousarray(kernel), "bias": bias}
    ctx.set(node, ctx.builder.add(name, Op.CONV_TRANSPOSE, [src], geo, weights), "cl")


def channels_last_domain(node: Any) -> bool:
    """True for QONNX's channels-last ops (domain `qonnx.custom_op.channels_last`)."""
    return str(getattr(node, "domain", "")).startswith("qonnx.custom_op.channels_last")


def _pool(op: Op) -> Converter:
    def convert(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
        cl_domain = channels_last_domain(node)
        src = ctx.channels_first(node) if cl_domain else ctx.channels_last(node)
        in_shape = ctx.builder.shape(src)
        k = tuple(int(v) for v in attrs["kernel_shape"])
        geo = _spatial(ctx, node, attrs, k, in_shape[: len(k)])
        if any(d != 1 for d in geo.pop("dilations")):
            msg = f"{node.op_type} {ctx.name(node)!r}: dilated pooling is not supported"
            raise FrontendError(msg)
        geo["pool"] = k
        if op is Op.AVGPOOL:
            geo["count_pad"] = bool(attrs.get("count_include_pad", 0))
        ctx.set(node, ctx.builder.add(ctx.name(node), op, [src], geo), "ir" if cl_domain else "cl")

    return convert


def _global_pool(op: Op) -> Converter:
    def convert(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
        del attrs
        src = ctx.channels_first(node) if channels_last_domain(node) else ctx.channels_last(node)
        ctx.set(node, ctx.builder.add(ctx.name(node), op, [src]), "ir")

    return convert


def mul(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    del attrs
    if const_fold(ctx, node, np.multiply):
        return
    if ctx.is_cl(node, 0) != ctx.is_cl(node, 1):
        msg = f"Mul {ctx.name(node)!r}: inputs in different layouts are not supported"
        raise FrontendError(msg)
    ir = ctx.builder.add(ctx.name(node), Op.MULTIPLY, [ctx.src(node, 0), ctx.src(node, 1)])
    ctx.set(node, ir)


def _binary(op: Op) -> Converter:
    """Sub, Max, Min of two tensors of one shape and layout."""

    def convert(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
        del attrs
        if len(node.input) != 2 or ctx.const(node, 0) is not None or ctx.const(node, 1) is not None:
            msg = (
                f"{node.op_type} {ctx.name(node)!r}: only two non-constant inputs of one shape "
                f"are supported, got inputs {list(node.input)}"
            )
            raise FrontendError(msg)
        if ctx.is_cl(node, 0) != ctx.is_cl(node, 1):
            msg = (
                f"{node.op_type} {ctx.name(node)!r}: inputs in different layouts are not supported"
            )
            raise FrontendError(msg)
        ctx.set(node, ctx.builder.add(ctx.name(node), op, [ctx.src(node, 0), ctx.src(node, 1)]))

    return convert


def concat(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    axis = int(attrs.get("axis", 1))
    srcs = [ctx.src(node, i) for i in range(len(node.input))]
    rank = len(ctx.builder.shape(srcs[0])) + 1
    axis = axis + rank if axis < 0 else axis
    cl = {ctx.is_cl(node, i) for i in range(len(node.input))}
    if len(cl) != 1:
        msg = f"Concat {ctx.name(node)!r}: inputs in different layouts are not supported"
        raise FrontendError(msg)
    ir_axis = (-1 if axis == 1 else axis - 2) if cl.pop() else axis - 1
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.CONCAT, srcs, {"axis": ir_axis}))


def reshape(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    del attrs
    target = ctx.const(node, 1)
    if target is None:
        msg = f"Reshape {ctx.name(node)!r}: the target shape must be constant"
        raise FrontendError(msg)
    shape = [int(d) for d in target][1:]
    src = ctx.channels_first(node)
    if len(shape) == 1 and len(ctx.builder.shape(src)) == 1:
        ctx.set(node, src, "ir")
        return
    if len(shape) == 1:
        ctx.set(node, ctx.builder.add(ctx.name(node), Op.FLATTEN, [src]), "ir")
        return
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.RESHAPE, [src], {"shape": tuple(shape)}), "ir")


def _power_of_two(scale: FloatArray) -> bool:
    mantissa, _ = np.frexp(scale)
    return bool(np.all(scale > 0) and np.all(mantissa == 0.5))


def quant(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """QONNX Quant(x, scale, zeropt, bitwidth)."""
    scale, zero, bits = (ctx.const(node, i) for i in (1, 2, 3))
    if scale is None or zero is None or bits is None:
        what = [
            w
            for w, v in zip(("scale", "zero point", "bit width"), (scale, zero, bits), strict=True)
            if v is None
        ]
        msg = (
            f"Quant {ctx.name(node)!r}: scale, zero point and bit width must be constants "
            f"(initializers or Constant nodes); the {' and '.join(what)} is computed here "
            "(as in hls4ml, which needs them constant)"
        )
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
    x = ctx.const(node, 0)
    if x is not None and np.any(zero != 0):
        msg = (
            f"Quant {ctx.name(node)!r}: a zero point on constant weights (got "
            f"{zero.ravel()[:4]}) is not supported (hls4ml 1.3's conversion fails on it: its "
            "rescale with a bias cannot move below the MatMul); supported on weights: zero "
            "point 0 (Brevitas' Int*Weight* quantisers; zero points on activations are supported)"
        )
        raise FrontendError(msg)
    # hls4ml 1.3 scales explicitly (ApplyAlpha, `onnx_alpha`) unless one power-of-two scale
    # and zero point 0: so also per-channel power-of-two scales on activations
    per_channel_act = x is None and np.unique(scale).size > 1
    if np.any(zero != 0) or not _power_of_two(scale) or per_channel_act:
        from hepinfer.frontends.onnx_alpha import float_scale_quant

        float_scale_quant(ctx, node, q, scale, zero)
        return
    if x is not None and np.unique(scale).size > 1:
        per_channel(ctx, node, x, scale, q)
        return
    if x is not None:
        ctx.consts[str(node.output[0])] = quantize(x, q)
        ctx.quant[str(node.output[0])] = q
        return
    ir = ctx.builder.add(ctx.name(node), Op.QUANT, [ctx.src(node)], q)
    ctx.set(node, ir)


def per_channel(
    ctx: OnnxContext, node: Any, x: FloatArray, scale: FloatArray, q: dict[str, Any]
) -> None:
    """A constant (weights) quantised with one power-of-two scale per channel (Brevitas'
    `Int8WeightPerChannelFixedPoint`): the values as QONNX computes them, typed by one
    fixed-point type holding every channel's grid (the finest scale's fractional bits, the
    coarsest one's integer bits).
    """
    try:
        values = np.asarray(quantize(x, {**q, "scale": scale}))
    except ValueError as exc:
        msg = f"Quant {ctx.name(node)!r}: scale of shape {scale.shape} does not broadcast to {x.shape}"
        raise FrontendError(msg) from exc
    exps = np.log2(scale)
    lo, hi = int(exps.min()), int(exps.max())
    out = str(node.output[0])
    ctx.consts[out] = values
    ctx.quant[out] = {**q, "scale": 2.0**lo, "bitwidth": q["bitwidth"] + hi - lo, "narrow": False}


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
    "Softsign": _activation("softsign"),
    "Selu": selu,
    "ThresholdedRelu": thresholded_relu,
    "PRelu": prelu,
    "Softmax": softmax,
    "BatchNormalization": batchnorm,
    "Identity": identity,
    "Dropout": identity,
    "Unsqueeze": squeeze_like,
    "Squeeze": squeeze_like,
    "Flatten": flatten,
    "Quant": quant,
    "Transpose": transpose,
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "MaxPool": _pool(Op.MAXPOOL),
    "AveragePool": _pool(Op.AVGPOOL),
    "GlobalMaxPool": _global_pool(Op.GLOBAL_MAXPOOL),
    "GlobalAveragePool": _global_pool(Op.GLOBAL_AVGPOOL),
    "Mul": mul,
    "Concat": concat,
    "Sub": _binary(Op.SUBTRACT),
    "Max": _binary(Op.MAXIMUM),
    "Min": _binary(Op.MINIMUM),
    "Reshape": reshape,
    "Constant": constant,
}
