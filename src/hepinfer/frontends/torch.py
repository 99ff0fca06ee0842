"""PyTorch frontend: trace an `nn.Module` with `torch.fx` and convert the traced graph.

Feature-vector models need no input shape (taken from the first Linear layer); pass
`input_shape` (per sample, torch order (C, L) / (C, H, W), no batch dimension) otherwise.
Inputs keep torch's channels-first order; convolutions work channels-last in the IR, so a
Transpose is inserted before the first one and folded away between them (Flatten transposes
back, so the flattened order is torch's).
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import FrontendError, GraphError, MissingDependencyError
from hepinfer.frontends.builder import ACTIVATIONS, GraphBuilder
from hepinfer.frontends.keras_layers import layernorm_attrs
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.ops.conv import same_pads
from hepinfer.ops.einsum import node_attrs as einsum_attrs
from hepinfer.ops.einsum import strip_batch as strip_einsum_batch

_MODULES = (
    "Linear, Conv1d, Conv2d (incl. depthwise), ConvTranspose1d/2d (groups 1, dilation 1), MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvg/MaxPool "
    "to 1, ReLU, LeakyReLU, ELU, PReLU, Threshold (value 0), Sigmoid, Tanh, Hardsigmoid, Softmax, BatchNorm1d/2d, Flatten, "
    "Dropout, Identity, Embedding, LayerNorm (last axis), ConstantPad1d/2d (value 0), Upsample/UpsamplingNearest2d (nearest, integer factors), LSTM/GRU/RNN (batch_first, one layer), and the activations of hepinfer.frontends.builder.ACTIVATIONS (default settings)"
)


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        msg = "torch"
        raise MissingDependencyError(msg, "torch", "converting PyTorch models") from exc
    return torch


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().double().numpy())


def _guess_shape(module: Any) -> tuple[int, ...]:
    torch = _torch()
    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            return (int(m.in_features),)
        if isinstance(
            m,
            torch.nn.Conv1d | torch.nn.Conv2d | torch.nn.ConvTranspose1d | torch.nn.ConvTranspose2d,
        ):
            break
    msg = "cannot infer the input shape of this PyTorch model; pass input_shape=(...) per sample"
    raise FrontendError(msg)


class _Layout:
    """Which IR tensors hold a torch channels-first tensor in channels-last order."""

    def __init__(self, builder: GraphBuilder) -> None:
        self.b = builder
        self.cl: set[str] = set()

    def last(self, src: str) -> str:
        if src in self.cl or len(self.b.shape(src)) < 2:
            return src
        rank = len(self.b.shape(src))
        out = self.b.add(f"{src}_to_last", Op.TRANSPOSE, [src], {"perm": (*range(1, rank), 0)})
        self.cl.add(out)
        return out

    def first(self, src: str) -> str:
        if src not in self.cl:
            return src
        rank = len(self.b.shape(src))
        perm = (rank - 1, *range(rank - 1))
        return self.b.add(f"{src}_to_first", Op.TRANSPOSE, [src], {"perm": perm})

    def keep(self, src: str, out: str) -> str:
        if src in self.cl:
            self.cl.add(out)
        return out


def _pair(value: Any, n: int) -> tuple[int, ...]:
    return (int(value),) * n if isinstance(value, int) else tuple(int(v) for v in value)


def _conv(lay: _Layout, name: str, m: Any, src: str) -> str:
    nn = _torch().nn
    rank = 1 if isinstance(m, nn.Conv1d) else 2
    if m.padding_mode != "zeros":
        msg = f"Conv {name!r}: padding_mode {m.padding_mode!r} is not supported (zeros)"
        raise FrontendError(msg)
    src = lay.last(src)
    w = _np(m.weight)  # (F, C/groups, *k)
    k = tuple(w.shape[2:])
    strides, dilations = _pair(m.stride, rank), _pair(m.dilation, rank)
    if isinstance(m.padding, str):
        pads = (
            same_pads(lay.b.shape(src)[:rank], k, strides, dilations)
            if m.padding == "same"
            else (0,) * (2 * rank)
        )
    else:
        pads = _pair(m.padding, rank) * 2
    bias = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0])
    attrs = {"strides": strides, "dilations": dilations, "pads": pads}
    if m.groups == 1:
        kernel = np.moveaxis(w, (0, 1), (-1, -2))
        op = Op.CONV1D if rank == 1 else Op.CONV2D
    elif m.groups == m.in_channels == m.out_channels:
        kernel = np.moveaxis(w[:, 0], 0, -1)[..., None]  # (*k, C, 1)
        op = Op.DEPTHWISE_CONV2D if rank == 2 else Op.DEPTHWISE_CONV1D
    else:
        msg = f"Conv {name!r}: groups={m.groups} is not supported (1, or depthwise: groups = in = out channels)"
        raise FrontendError(msg)
    out = lay.b.add(name, op, [src], attrs, {"kernel": kernel, "bias": bias})
    lay.cl.add(out)
    return out


def _conv_transpose(lay: _Layout, name: str, m: Any, src: str) -> str:
    """nn.ConvTranspose1d/2d as hepinfer's ConvTranspose (hls4ml 1.3 converts neither): the
    weight `(C, F, *k)` flipped and its channel axes swapped, `padding` removed from both
    ends of the full output, `output_padding` added at the end.
    """
    rank = 1 if isinstance(m, _torch().nn.ConvTranspose1d) else 2
    dilations = _pair(m.dilation, rank)
    if m.padding_mode != "zeros" or m.groups != 1 or dilations != (1,) * rank:
        msg = (
            f"{type(m).__name__} {name!r}: padding_mode={m.padding_mode!r}, groups={m.groups}, "
            f"dilation={dilations} is not supported; supported: padding_mode 'zeros', groups 1, "
            "dilation 1"
        )
        raise FrontendError(msg)
    src = lay.last(src)
    w = _np(m.weight)  # (C, F, *k)
    kernel = np.flip(w, axis=tuple(range(2, 2 + rank))).transpose(*range(2, 2 + rank), 0, 1)
    bias = _np(m.bias) if m.bias is not None else np.zeros(w.shape[1])
    attrs = {
        "strides": _pair(m.stride, rank),
        "pads": _pair(m.padding, rank) * 2,
        "output_padding": _pair(m.output_padding, rank),
    }
    weights = {"kernel": np.ascontiguousarray(kernel), "bias": bias}
    out = lay.b.add(name, Op.CONV_TRANSPOSE, [src], attrs, weights)
    lay.cl.add(out)
    return out


def _pool(lay: _Layout, name: str, m: Any, src: str) -> str:
    nn = _torch().nn
    rank = 1 if isinstance(m, nn.MaxPool1d | nn.AvgPool1d) else 2
    if getattr(m, "ceil_mode", False) or _pair(getattr(m, "dilation", 1), rank) != (1,) * rank:
        msg = f"pooling {name!r}: ceil_mode and dilation are not supported"
        raise FrontendError(msg)
    src = lay.last(src)
    k = _pair(m.kernel_size, rank)
    attrs: dict[str, Any] = {
        "pool": k,
        "strides": _pair(m.stride if m.stride is not None else m.kernel_size, rank),
        "pads": _pair(m.padding, rank) * 2,
    }
    if isinstance(m, nn.AvgPool1d | nn.AvgPool2d):
        attrs["count_pad"] = bool(m.count_include_pad)
        op = Op.AVGPOOL
    else:
        op = Op.MAXPOOL
    out = lay.b.add(name, op, [src], attrs)
    lay.cl.add(out)
    return out


def _constant_pad(lay: _Layout, name: str, m: Any, src: str) -> str:
    """ConstantPad1d/2d with value 0: a Cropping for negative pads, then a ZeroPadding."""
    rank = 1 if isinstance(m, _torch().nn.ConstantPad1d) else 2
    if float(m.value) != 0.0 or len(lay.b.shape(src)) != rank + 1:
        msg = (
            f"{type(m).__name__} {name!r} with value={m.value} on a per-sample shape "
            f"{lay.b.shape(src)} is not supported; supported: value=0 on (C, L) for "
            "ConstantPad1d and (C, H, W) for ConstantPad2d"
        )
        raise FrontendError(msg)
    src = lay.last(src)
    torch_pads = [int(p) for p in m.padding]  # last axis first: (left, right[, top, bottom])
    pairs = [(torch_pads[2 * k], torch_pads[2 * k + 1]) for k in reversed(range(rank))]
    pads = tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)
    out = src
    if any(p < 0 for p in pads):
        crops = tuple(max(-p, 0) for p in pads)
        crop_name = f"{name}_crop" if any(p > 0 for p in pads) else name
        out = lay.b.add(crop_name, Op.CROPPING, [out], {"crops": crops})
    if any(p > 0 for p in pads):
        out = lay.b.add(name, Op.ZERO_PADDING, [out], {"pads": tuple(max(p, 0) for p in pads)})
    return lay.keep(src, out)


def _upsample(lay: _Layout, name: str, m: Any, src: str) -> str:
    """Upsample / UpsamplingNearest2d (nearest, integer factors) as an UpSampling."""
    shape = lay.b.shape(src)
    if src in lay.cl:
        shape = (shape[-1], *shape[:-1])  # torch's (C, L) or (C, H, W)
    rank = len(shape) - 1
    if m.size is not None:
        size = _pair(m.size, rank)
        factors = [s / d for s, d in zip(size, shape[1:], strict=True)]
    else:
        sf = m.scale_factor
        factors = [float(f) for f in (sf if isinstance(sf, tuple | list) else (sf,) * rank)]
    if m.mode != "nearest" or rank not in (1, 2) or any(f != int(f) or f < 1 for f in factors):
        msg = (
            f"{type(m).__name__} {name!r} (mode {m.mode!r}, factors {factors}, input {shape}) is "
            "not supported; supported: mode='nearest' with integer factors on (C, L) or (C, H, W)"
        )
        raise FrontendError(msg)
    src = lay.last(src)
    out = lay.b.add(name, Op.UPSAMPLING, [src], {"scale": tuple(int(f) for f in factors)})
    lay.cl.add(out)
    return out


def _module_node(lay: _Layout, name: str, m: Any, src: str) -> str:
    torch = _torch()
    nn = torch.nn
    b = lay.b
    if isinstance(m, nn.Conv1d | nn.Conv2d):
        return _conv(lay, name, m, src)
    if isinstance(m, nn.ConvTranspose1d | nn.ConvTranspose2d):
        return _conv_transpose(lay, name, m, src)
    if isinstance(m, nn.MaxPool1d | nn.MaxPool2d | nn.AvgPool1d | nn.AvgPool2d):
        return _pool(lay, name, m, src)
    if isinstance(
        m, nn.AdaptiveAvgPool1d | nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool1d | nn.AdaptiveMaxPool2d
    ):
        size = _pair(m.output_size, 1 if "1d" in type(m).__name__ else 2)
        if set(size) != {1}:
            msg = f"{type(m).__name__} {name!r}: only output_size 1 (global pooling) is supported"
            raise FrontendError(msg)
        op = Op.GLOBAL_AVGPOOL if "Avg" in type(m).__name__ else Op.GLOBAL_MAXPOOL
        return b.add(name, op, [lay.last(src)])
    if isinstance(m, nn.Linear):
        src = lay.first(src)
        bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_features)
        return b.add(name, Op.DENSE, [src], {}, {"kernel": _np(m.weight).T, "bias": bias})
    if isinstance(m, nn.ReLU):
        return lay.keep(src, b.add(name, Op.RELU, [src]))
    if isinstance(m, nn.Softmax):
        if m.dim not in (None, -1, len(b.shape(src))):
            msg = f"Softmax {name!r} over dim {m.dim} is not supported (last axis only)"
            raise FrontendError(msg)
        return b.add(name, Op.SOFTMAX, [src])
    if isinstance(m, nn.Sigmoid):
        return lay.keep(src, b.add(name, Op.SIGMOID, [src]))
    if isinstance(m, nn.Tanh):
        return lay.keep(src, b.add(name, Op.TANH, [src]))
    if isinstance(m, nn.LeakyReLU):
        return lay.keep(src, b.add(name, Op.LEAKY_RELU, [src], {"alpha": float(m.negative_slope)}))
    if isinstance(m, nn.ELU):
        return lay.keep(src, b.add(name, Op.ELU, [src], {"alpha": float(m.alpha)}))
    if isinstance(m, nn.PReLU):
        src = lay.last(src)  # one alpha per channel (torch's dim 1), the IR's last axis
        alpha = np.broadcast_to(_np(m.weight), b.shape(src))
        return lay.keep(src, b.add(name, Op.PRELU, [src], {}, {"alpha": np.array(alpha)}))
    if isinstance(m, nn.Threshold):
        if float(m.value) != 0.0:
            msg = f"Threshold {name!r} with value={m.value} is not supported; supported: value=0 (ThresholdedReLU)"
            raise FrontendError(msg)
        theta = {"theta": float(m.threshold)}
        return lay.keep(src, b.add(name, Op.THRESHOLDED_RELU, [src], theta))
    if isinstance(m, nn.Hardsigmoid):
        out = b.add(name, Op.HARD_SIGMOID, [src], {"slope": 1 / 6, "shift": 0.5})
        return lay.keep(src, out)
    if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
        n = m.num_features
        gamma = _np(m.weight) if m.weight is not None else np.ones(n)
        beta = _np(m.bias) if m.bias is not None else np.zeros(n)
        stats = (_np(m.running_mean), _np(m.running_var), gamma, beta)
        return _batchnorm(lay, name, src, stats, float(m.eps))
    if isinstance(m, nn.Flatten):
        src = lay.first(src)  # torch flattens channels-first
        return b.add(name, Op.FLATTEN, [src]) if len(b.shape(src)) > 1 else src
    if isinstance(m, nn.Dropout | nn.Identity):
        return src
    if isinstance(m, nn.Embedding):
        if m.max_norm is not None:
            msg = f"Embedding {name!r} with max_norm={m.max_norm} is not supported (no max_norm)"
            raise FrontendError(msg)
        return b.add(name, Op.EMBEDDING, [lay.first(src)], {}, {"embeddings": _np(m.weight)})
    if isinstance(m, nn.LayerNorm):
        return _layernorm(lay, name, m, src)
    if isinstance(m, nn.ConstantPad1d | nn.ConstantPad2d):
        return _constant_pad(lay, name, m, src)
    if isinstance(m, nn.Upsample):  # UpsamplingNearest2d is one
        return _upsample(lay, name, m, src)
    kind = type(m).__name__.lower()
    if kind in ACTIVATIONS and _default_module(m):
        return lay.keep(src, b.activation(name, kind, src))
    msg = f"PyTorch module {name!r} of type {type(m).__name__!r} is not supported; supported: {_MODULES}"
    raise FrontendError(msg)


def _batchnorm(
    lay: _Layout,
    name: str,
    src: str,
    stats: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    eps: float,
) -> str:
    """Inference batch normalisation over torch's dim 1 (the IR's last axis) from the running
    mean and variance, gamma and beta: `x * scale + bias` as a BatchNormalization node.
    """
    src = lay.last(src)
    mean, var, gamma, beta = stats
    scale = gamma / np.sqrt(var + eps)
    out = lay.b.add(name, Op.BATCHNORM, [src], {}, {"scale": scale, "bias": beta - mean * scale})
    return lay.keep(src, out)


_BATCH_NORM_ARGS = (
    "input",
    "running_mean",
    "running_var",
    "weight",
    "bias",
    "training",
    "momentum",
    "eps",
)


def _functional_batch_norm(lay: _Layout, name: str, node: Any, traced: Any, src: str) -> str:
    """`F.batch_norm(x, running_mean, running_var, weight, bias, training=False, eps=...)`
    with the statistics and affine parameters held by the module (parameters or buffers,
    `get_attr` nodes in torch.fx), as nn.BatchNorm1d/2d (hls4ml 1.3 refuses the functional
    form).
    """
    given = dict(zip(_BATCH_NORM_ARGS, node.args, strict=False)) | dict(node.kwargs)
    if given.get("training", False):
        msg = (
            f"F.batch_norm {name!r} with training=True is not supported (it normalises by each "
            "batch's statistics); call it with training=False (the running statistics)"
        )
        raise FrontendError(msg)

    def tensor(key: str) -> np.ndarray | None:
        arg = given.get(key)
        if arg is None:
            return None
        if getattr(arg, "op", None) != "get_attr":
            msg = (
                f"F.batch_norm {name!r}: {key} {arg!s} is not a parameter or buffer of the "
                "module (computed statistics are not supported); register it with "
                "nn.Parameter or register_buffer"
            )
            raise FrontendError(msg)
        return _np(_fetch_attr(traced, str(arg.target)))

    mean, var = tensor("running_mean"), tensor("running_var")
    if mean is None or var is None:
        msg = f"F.batch_norm {name!r} without running_mean/running_var is not supported; pass the module's running statistics"
        raise FrontendError(msg)
    gamma, beta = tensor("weight"), tensor("bias")
    n = len(mean)
    stats = (
        mean,
        var,
        np.ones(n) if gamma is None else gamma,
        np.zeros(n) if beta is None else beta,
    )
    return _batchnorm(lay, name, src, stats, float(given.get("eps", 1e-5)))


def _fetch_attr(traced: Any, target: str) -> Any:
    obj = traced
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


#: torch.fx names of `+`, `-`, `*` (operator functions, torch functions, Tensor methods)
_SCALAR_ARITH = {"add": "add", "sub": "sub", "subtract": "sub", "mul": "mul", "multiply": "mul"}


def _scalar_operand(node: Any, fname: str) -> tuple[int, float] | None:
    """(index of the tensor operand, the number) when `node` is `+`, `-` or `*` of one tensor
    and one Python number; None otherwise.
    """
    numbers = [
        i for i, a in enumerate(node.args) if isinstance(a, int | float) and not isinstance(a, bool)
    ]
    if fname in _SCALAR_ARITH and numbers and (node.kwargs or len(node.args) != 2):
        msg = (
            f"PyTorch {fname} {node.name!r} with arguments {node.args[1:]} {dict(node.kwargs)} "
            "is not supported; supported: x + c, x - c, c - x, x * c with a Python number c "
            "(no alpha)"
        )
        raise FrontendError(msg)
    if fname not in _SCALAR_ARITH or len(node.args) != 2:
        return None
    tensors = [i for i, a in enumerate(node.args) if hasattr(a, "name")]
    if len(numbers) != 1 or len(tensors) != 1:
        return None
    return tensors[0], float(node.args[numbers[0]])


def _scalar_arith(
    lay: _Layout, name: str, kind: str, src: str, tensor_first: bool, c: float
) -> str:
    """`x + c`, `x - c`, `c - x`, `x * c` with a Python number `c` (hls4ml's `Constant` and
    its ApplyAlpha: `x * scale + bias`) as a BatchNormalization with one scale and bias for
    every channel.
    """
    scale, bias = {
        "add": (1.0, c),
        "mul": (c, 0.0),
        "sub": (1.0, -c) if tensor_first else (-1.0, c),
    }[kind]
    n = lay.b.shape(src)[-1]
    weights = {"scale": np.full(n, scale), "bias": np.full(n, bias)}
    return lay.keep(src, lay.b.add(name, Op.BATCHNORM, [src], {}, weights))


def _einsum(lay: _Layout, name: str, node: Any, get: Callable[[str, str], str]) -> str:
    """`torch.einsum(equation, a, b)` of two computed tensors as hls4ml 1.3's Einsum: the
    batch axis (each operand's and the output's first subscript) stripped from the equation.
    """
    equation, operands = node.args[0], list(node.args[1:])
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = list(operands[0])
    if not isinstance(equation, str) or len(operands) != 2:
        msg = (
            f"torch.einsum {name!r} with {len(operands)} operands is not supported; hepinfer "
            "(as hls4ml 1.3) converts the einsum of two tensors"
        )
        raise FrontendError(msg)
    try:
        stripped = strip_einsum_batch(equation)
    except GraphError as exc:
        msg = f"torch.einsum {name!r} with {exc}"
        raise FrontendError(msg) from exc
    srcs = [lay.first(get(o.name, name)) for o in operands]
    try:
        attrs = einsum_attrs(stripped, lay.b.shape(srcs[0]), lay.b.shape(srcs[1]))
    except GraphError as exc:
        msg = f"torch.einsum {name!r}: {exc}"
        raise FrontendError(msg) from None
    return lay.b.add(name, Op.EINSUM, srcs, attrs)


def _view_shape(node: Any) -> tuple[int, ...] | None:
    """The per-sample target shape of `x.view(...)` / `x.reshape(...)` (batch axis dropped),
    or None when it is not given as integers.
    """
    dims = list(node.args[1:])
    if len(dims) == 1 and isinstance(dims[0], list | tuple):
        dims = list(dims[0])
    if len(dims) < 2 or not all(isinstance(d, int) for d in dims):
        return None
    return tuple(int(d) for d in dims[1:])


def _layernorm(lay: _Layout, name: str, m: Any, src: str) -> str:
    """nn.LayerNorm over the last axis (torch's layout, as nn.Linear reads it)."""
    src = lay.first(src)
    n = lay.b.shape(src)[-1]
    if tuple(m.normalized_shape) != (n,):
        msg = (
            f"LayerNorm {name!r} over normalized_shape={tuple(m.normalized_shape)} is not "
            f"supported; supported: the last axis only, normalized_shape=({n},)"
        )
        raise FrontendError(msg)
    gamma = _np(m.weight) if m.weight is not None else np.ones(n)
    beta = _np(m.bias) if getattr(m, "bias", None) is not None else np.zeros(n)
    attrs = layernorm_attrs(name, float(m.eps))
    return lay.b.add(name, Op.LAYERNORM, [src], attrs, {"scale": gamma, "bias": beta})


def _default_module(m: Any) -> bool:
    """Whether an activation module has its default settings (an element-wise activation
    whose settings differ, e.g. ``Softplus(beta=2)``, needs its own converter).
    """
    try:
        default = type(m)()
    except TypeError:
        return False
    return bool(m.extra_repr() == default.extra_repr())


#: two-tensor functions (operator.sub, torch.sub / maximum / minimum, Tensor methods)
_BINARY: dict[str, Op] = {
    "sub": Op.SUBTRACT,
    "subtract": Op.SUBTRACT,
    "maximum": Op.MAXIMUM,
    "fmax": Op.MAXIMUM,
    "minimum": Op.MINIMUM,
    "fmin": Op.MINIMUM,
}

_FUNCTIONS: dict[str, Op] = {
    "relu": Op.RELU,
    "sigmoid": Op.SIGMOID,
    "tanh": Op.TANH,
    "softmax": Op.SOFTMAX,
}


#: torch's gate blocks in Keras' order (GRU: r, z, n -> z, r, n; LSTM: i, f, g, o as Keras)
_GATE_ORDER = {"LSTM": (0, 1, 2, 3), "GRU": (1, 0, 2), "RNN": (0,)}


class _Recurrent:
    """A traced nn.LSTM / nn.GRU / nn.RNN call: its IR nodes are made on first use, one
    returning the sequence (`output`) and one the last state (`h_n[-1]`, `output[:, -1]`).
    """

    def __init__(self, b: GraphBuilder, name: str, m: Any, src: str) -> None:
        kind = type(m).__name__
        if not m.batch_first or m.num_layers != 1 or m.bidirectional or getattr(m, "proj_size", 0):
            msg = (
                f"PyTorch {kind} {name!r}: hepinfer converts batch_first=True, num_layers=1, "
                "unidirectional layers without projection"
            )
            raise FrontendError(msg)
        order = _GATE_ORDER[kind]
        n = int(m.hidden_size)

        def keras(w: np.ndarray) -> np.ndarray:
            return np.concatenate([w[k * n : (k + 1) * n] for k in order])

        g = len(order) * n
        has_bias = bool(m.bias)
        self.weights = {
            "kernel": keras(_np(m.weight_ih_l0)).T,
            "recurrent_kernel": keras(_np(m.weight_hh_l0)).T,
            "bias": keras(_np(m.bias_ih_l0)) if has_bias else np.zeros(g),
            "recurrent_bias": keras(_np(m.bias_hh_l0)) if has_bias else np.zeros(g),
        }
        self.attrs: dict[str, Any] = {"units": n}
        if kind == "RNN":
            self.attrs["activation"] = str(m.nonlinearity)
        if kind == "GRU":
            self.attrs["reset_after"] = True
        self.op = {"LSTM": Op.LSTM, "GRU": Op.GRU, "RNN": Op.SIMPLE_RNN}[kind]
        self.b, self.name, self.src = b, name, src
        self.made: dict[bool, str] = {}

    def node(self, sequences: bool) -> str:
        """The node returning the sequence or the last state; the first one made takes the
        module's name (as hls4ml's one layer, so its LayerName configuration applies), a
        second one the name with `_last` or `_seq`.
        """
        if sequences not in self.made:
            name = self.name
            if self.made:
                name = f"{self.name}_seq" if sequences else f"{self.name}_last"
            attrs = {**self.attrs, "return_sequences": sequences}
            self.made[sequences] = self.b.add(name, self.op, [self.src], attrs, self.weights)
        return self.made[sequences]


def _last_step(index: Any) -> bool:
    """`[:, -1]` or `[:, -1, :]` (the last time step of a batch-first sequence)."""
    full = slice(None)
    return (
        isinstance(index, tuple)
        and len(index) in (2, 3)
        and index[0] == full
        and (index[1] == -1 and all(i == full for i in index[2:]))
    )


def _recurrent_item(rnn: _Recurrent, path: tuple[Any, ...]) -> str | tuple[Any, ...]:
    """The IR tensor for indexing path `path` into an RNN call's result, or the path so far."""
    lstm = rnn.op is Op.LSTM
    if path == (0,):
        return path  # the sequence: a node once it is used whole or sliced
    if path[:1] == (0,) and _last_step(path[1]):
        return rnn.node(False)
    state = path[1:]
    if path[:1] == (1,) and (not lstm or state[:1] == (0,)):
        rest = state[1:] if lstm else state
        if not rest:
            return path
        if rest[0] in (-1, 0):
            return rnn.node(False)
    if path[:1] == (1,) and len(path) < (3 if lstm else 2):
        return path
    msg = f"PyTorch {rnn.op.value} {rnn.name!r}: the use {path} of its outputs is not supported"
    raise FrontendError(msg)


def _cat(lay: _Layout, name: str, tensors: list[str], dim: int) -> str:
    """torch.cat along `dim` (batch-first torch axes) as a Concat (channels-last when every
    input is, so convolutions around it need no transposes).
    """
    rank = len(lay.b.shape(tensors[0]))
    axis = dim - 1 if dim > 0 else rank + dim
    if dim == 0 or not 0 <= axis < rank:
        msg = f"torch.cat {name!r} along dim {dim} is not supported; concatenate per-sample axes (dim >= 1)"
        raise FrontendError(msg)
    if all(t in lay.cl for t in tensors):
        out = lay.b.add(name, Op.CONCAT, tensors, {"axis": rank - 1 if axis == 0 else axis - 1})
        lay.cl.add(out)
        return out
    return lay.b.add(name, Op.CONCAT, [lay.first(t) for t in tensors], {"axis": axis})


def _squeeze(lay: _Layout, name: str, fname: str, src: str, dim: Any) -> str:
    """Squeeze or unsqueeze a per-sample axis (torch order) as a Reshape."""
    src = lay.first(src)
    shape = list(lay.b.shape(src))
    if fname == "unsqueeze":
        at = int(dim) - 1 if int(dim) > 0 else len(shape) + 1 + int(dim)
        if int(dim) == 0 or not 0 <= at <= len(shape):
            msg = f"unsqueeze {name!r} at dim {dim} is not supported (a per-sample axis, dim >= 1)"
            raise FrontendError(msg)
        shape.insert(at, 1)
    else:
        dims = range(1, len(shape) + 1) if dim is None else [int(d) for d in np.atleast_1d(dim)]
        drop = {d - 1 if d > 0 else len(shape) + d for d in dims}
        shape = [n for i, n in enumerate(shape) if i not in drop or n != 1]
    if tuple(shape) == lay.b.shape(src):
        return src
    return lay.b.add(name, Op.RESHAPE, [src], {"shape": tuple(shape) or (1,)})


def from_torch_module(module: Any, input_shape: Sequence[int] | None = None) -> Graph:
    """Trace `module` with torch.fx and convert it."""
    torch = _torch()
    fx = importlib.import_module("torch.fx")

    module = module.eval()
    try:
        traced = fx.symbolic_trace(module)
    except Exception as exc:
        msg = f"torch.fx could not trace {type(module).__name__}: {exc}"
        raise FrontendError(msg) from exc
    b = GraphBuilder(type(module).__name__)
    lay = _Layout(b)
    values: dict[str, str] = {}
    rnns: dict[str, tuple[_Recurrent, tuple[Any, ...]]] = {}  # RNN results not yet indexed
    outputs: list[str] = []
    modules = dict(traced.named_modules())

    parameters: set[str] = set()  # get_attr nodes: read only by F.batch_norm

    def get(arg: str, user: str = "") -> str:
        if arg in rnns and rnns[arg][1] == (0,):  # the whole sequence
            values[arg] = rnns[arg][0].node(True)
        if arg in parameters:
            msg = (
                f"PyTorch value {arg!r} (a parameter or buffer of the module) is used by "
                f"{user!r}, which hepinfer does not convert; module tensors are read only as "
                "F.batch_norm's statistics and affine parameters"
            )
            raise FrontendError(msg)
        if arg not in values:
            msg = f"PyTorch value {arg!r} (a recurrent layer's state tuple) cannot be used whole"
            raise FrontendError(msg)
        return values[arg]

    for node in traced.graph.nodes:
        name = str(node.name)
        if node.op == "placeholder":
            shape = tuple(input_shape) if input_shape is not None else _guess_shape(module)
            values[name] = b.input(name, shape)
        elif node.op == "call_module" and type(modules[node.target]).__name__ in _GATE_ORDER:
            src = get(node.args[0].name)
            rnns[name] = (_Recurrent(b, str(node.target), modules[node.target], src), ())
        elif node.op == "call_module":
            values[name] = _module_node(
                lay, str(node.target), modules[node.target], get(node.args[0].name)
            )
        elif node.target is operator.getitem and node.args[0].name in rnns:
            rnn, path = rnns[node.args[0].name]
            got = _recurrent_item(rnn, (*path, node.args[1]))
            if isinstance(got, str):
                values[name] = got
            else:
                rnns[name] = (rnn, got)
        elif node.op == "get_attr":
            parameters.add(name)  # a parameter or buffer: read by the function that uses it
        elif node.op in ("call_function", "call_method"):
            fname = getattr(node.target, "__name__", str(node.target))
            if fname == "batch_norm":
                src = get(node.args[0].name)
                values[name] = _functional_batch_norm(lay, name, node, traced, src)
                continue
            args = [get(a.name, name) for a in node.args if hasattr(a, "name")]
            scalar = _scalar_operand(node, fname)
            if scalar is not None:
                index, c = scalar
                kind = _SCALAR_ARITH[fname]
                values[name] = _scalar_arith(lay, name, kind, args[0], index == 0, c)
            elif fname in ("cat", "concat", "concatenate"):
                dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
                values[name] = _cat(lay, name, [get(a.name) for a in node.args[0]], int(dim))
            elif fname in ("squeeze", "unsqueeze"):
                dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
                values[name] = _squeeze(lay, name, fname, args[0], dim)
            elif fname in _FUNCTIONS:
                values[name] = lay.keep(args[0], b.add(name, _FUNCTIONS[fname], args[:1]))
            elif fname in ACTIVATIONS and len(args) == 1 and not node.kwargs:
                values[name] = lay.keep(args[0], b.activation(name, fname, args[0]))
            elif node.target in (operator.add, torch.add, operator.mul, torch.mul) or fname in (
                "add",
                "mul",
            ):
                if len({a in lay.cl for a in args}) > 1:
                    args = [lay.first(a) for a in args]
                op = (
                    Op.ADD
                    if node.target in (operator.add, torch.add) or fname == "add"
                    else Op.MULTIPLY
                )
                values[name] = lay.keep(args[0], b.add(name, op, args))
            elif fname in _BINARY and len(args) == 2 and not node.kwargs:
                if len({a in lay.cl for a in args}) > 1:
                    args = [lay.first(a) for a in args]
                values[name] = lay.keep(args[0], b.add(name, _BINARY[fname], args))
            elif fname == "einsum":
                values[name] = _einsum(lay, name, node, get)
            elif fname in ("view", "reshape") and len(target := _view_shape(node) or ()) > 1:
                src = lay.first(args[0])
                size = int(np.prod(b.shape(src)))
                known = int(np.prod([d for d in target if d != -1]))
                shape = tuple(size // known if d == -1 else d for d in target)
                if int(np.prod(shape)) != size:
                    msg = f"PyTorch {fname} {name!r} to {target} does not fit {b.shape(src)}"
                    raise FrontendError(msg)
                values[name] = b.add(name, Op.RESHAPE, [src], {"shape": shape})
            elif fname in ("flatten", "view", "reshape") and len(b.shape(args[0])) > 1:
                values[name] = b.add(name, Op.FLATTEN, [lay.first(args[0])])
            elif fname in ("flatten", "view", "reshape"):
                values[name] = args[0]
            else:
                msg = f"PyTorch operation {name!r} ({fname}) is not supported; supported functions: {', '.join(_FUNCTIONS)}, add, mul, {', '.join(_BINARY)}, flatten, cat, squeeze, unsqueeze, batch_norm (training=False), +/-/* by a number, einsum of two tensors, view/reshape"
                raise FrontendError(msg)
        elif node.op == "output":
            res = node.args[0]
            outs = res if isinstance(res, tuple | list) else (res,)
            outputs = [get(o.name) for o in outs]
    return b.build(outputs)


def load_torch_file(path: str | Path, input_shape: Sequence[int] | None = None) -> Graph:
    """Load a whole-module pickle (`torch.save(model)`) on the CPU and convert it.

    Unpickling runs code from the file: only load files you trust.
    """
    torch = _torch()
    p = Path(path)
    if not p.is_file():
        msg = f"PyTorch model file {p} does not exist"
        raise FrontendError(msg)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.load(str(p), weights_only=False, map_location="cpu")
    if not isinstance(module, torch.nn.Module):
        msg = f"{p} holds a {type(module).__name__}, not a whole nn.Module; save with torch.save(model)"
        raise FrontendError(msg)
    return from_torch_module(module, input_shape)
