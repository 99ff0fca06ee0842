"""PyTorch frontend: trace an `nn.Module` with `torch.fx` and convert the traced graph.

Feature-vector models need no input shape (taken from the first Linear layer); pass
`input_shape` (per sample, without the batch dimension) otherwise.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import FrontendError, MissingDependencyError
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op

_MODULES = (
    "Linear, ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Hardsigmoid, Softmax, BatchNorm1d, "
    "Flatten, Dropout, Identity"
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
        if isinstance(m, torch.nn.Conv1d | torch.nn.Conv2d):
            break
    msg = "cannot infer the input shape of this PyTorch model; pass input_shape=(...) per sample"
    raise FrontendError(msg)


def _module_node(b: GraphBuilder, name: str, m: Any, src: str) -> str:
    torch = _torch()
    nn = torch.nn
    if isinstance(m, nn.Linear):
        bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_features)
        return b.add(name, Op.DENSE, [src], {}, {"kernel": _np(m.weight).T, "bias": bias})
    if isinstance(m, nn.ReLU):
        return b.add(name, Op.RELU, [src])
    if isinstance(m, nn.Softmax):
        if m.dim not in (None, -1, len(b.shape(src))):
            msg = f"Softmax {name!r} over dim {m.dim} is not supported (last axis only)"
            raise FrontendError(msg)
        return b.add(name, Op.SOFTMAX, [src])
    if isinstance(m, nn.Sigmoid):
        return b.add(name, Op.SIGMOID, [src])
    if isinstance(m, nn.Tanh):
        return b.add(name, Op.TANH, [src])
    if isinstance(m, nn.LeakyReLU):
        return b.add(name, Op.LEAKY_RELU, [src], {"alpha": float(m.negative_slope)})
    if isinstance(m, nn.ELU):
        return b.add(name, Op.ELU, [src], {"alpha": float(m.alpha)})
    if isinstance(m, nn.Hardsigmoid):
        return b.add(name, Op.HARD_SIGMOID, [src], {"slope": 1 / 6, "shift": 0.5})
    if isinstance(m, nn.BatchNorm1d):
        n = m.num_features
        gamma = _np(m.weight) if m.weight is not None else np.ones(n)
        beta = _np(m.bias) if m.bias is not None else np.zeros(n)
        scale = gamma / np.sqrt(_np(m.running_var) + m.eps)
        return b.add(
            name,
            Op.BATCHNORM,
            [src],
            {},
            {"scale": scale, "bias": beta - _np(m.running_mean) * scale},
        )
    if isinstance(m, nn.Flatten):
        return b.add(name, Op.FLATTEN, [src])
    if isinstance(m, nn.Dropout | nn.Identity):
        return src
    msg = f"PyTorch module {name!r} of type {type(m).__name__!r} is not supported; supported: {_MODULES}"
    raise FrontendError(msg)


_FUNCTIONS: dict[str, Op] = {
    "relu": Op.RELU,
    "sigmoid": Op.SIGMOID,
    "tanh": Op.TANH,
    "softmax": Op.SOFTMAX,
}


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
    values: dict[str, str] = {}
    outputs: list[str] = []
    modules = dict(traced.named_modules())
    for node in traced.graph.nodes:
        name = str(node.name)
        if node.op == "placeholder":
            shape = tuple(input_shape) if input_shape is not None else _guess_shape(module)
            values[name] = b.input(name, shape)
        elif node.op == "call_module":
            values[name] = _module_node(
                b, str(node.target), modules[node.target], values[node.args[0].name]
            )
        elif node.op in ("call_function", "call_method"):
            fname = getattr(node.target, "__name__", str(node.target))
            args = [values[a.name] for a in node.args if hasattr(a, "name")]
            if fname in _FUNCTIONS:
                values[name] = b.add(name, _FUNCTIONS[fname], args[:1])
            elif node.target in (operator.add, torch.add) or fname == "add":
                values[name] = b.add(name, Op.ADD, args)
            elif node.target in (operator.mul, torch.mul) or fname == "mul":
                values[name] = b.add(name, Op.MULTIPLY, args)
            elif fname in ("flatten", "view", "reshape") and len(b.shape(args[0])) > 1:
                values[name] = b.add(name, Op.FLATTEN, args[:1])
            elif fname in ("flatten", "view", "reshape"):
                values[name] = args[0]
            else:
                msg = f"PyTorch operation {name!r} ({fname}) is not supported; supported functions: {', '.join(_FUNCTIONS)}, add, mul, flatten"
                raise FrontendError(msg)
        elif node.op == "output":
            res = node.args[0]
            outs = res if isinstance(res, tuple | list) else (res,)
            outputs = [values[o.name] for o in outs]
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
