"""ONNX `LSTM`, `GRU` and `RNN` nodes (as `torch.onnx.export` writes nn.LSTM/GRU/RNN with
`batch_first=True`) lowered onto hepinfer's recurrent ops, the ones the Keras and PyTorch
frontends make.

The exporter's pattern: `Transpose perm [1, 0, 2]` of the batch-first input to time-major, the
recurrent node (initial states from `Shape -> Gather -> Unsqueeze -> Concat ->
ConstantOfShape`, zeros), `Squeeze` of the direction axis and `Transpose` back for the
sequence `Y`, or `Y_h` for the last state; `Gather` of the last time step. The IR keeps every
sequence batch-first: the time-major tensors and the shape computations make no node (their
layouts say what they are), the recurrent node becomes one IR node per output used (the
sequence: `return_sequences`; the last state or step: without). Gates are reordered from
ONNX's (LSTM i, o, f, c; GRU z, r, h) to Keras' (i, f, c, o; z, r, h); both bias rows are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hepinfer.errors import FrontendError
from hepinfer.frontends.onnx_nodes import Converter, OnnxContext
from hepinfer.ir.op import Op

#: layouts of ONNX tensors that have no IR tensor of their own
TIME_MAJOR = "tm"  #: (seq, N, F): the IR tensor is its batch-first (seq, F) per sample
SHAPE = "shape"  #: a value computed from a tensor's shape (the batch size is unknown)
ZEROS = "zeros"  #: ConstantOfShape(0) of a shape value: an all-zero initial state
RNN_Y = "rnn_y"  #: a recurrent node's Y (seq, directions, N, H)
RNN_Y_TM = "rnn_y_tm"  #: Y with the direction axis squeezed: (seq, N, H)
RNN_H = "rnn_h"  #: a recurrent node's Y_h (directions, N, H)

#: ONNX gate blocks in Keras' order
_GATES = {"LSTM": (0, 2, 3, 1), "GRU": (0, 1, 2), "RNN": (0,)}
_OPS = {"LSTM": Op.LSTM, "GRU": Op.GRU, "RNN": Op.SIMPLE_RNN}


class _Recurrent:
    """A converted recurrent node: its IR nodes are made on first use (sequence, last)."""

    def __init__(self, ctx: OnnxContext, node: Any, attrs: dict[str, Any], src: str) -> None:
        kind = str(node.op_type)
        name = ctx.name(node)
        h = int(attrs["hidden_size"])
        order = _GATES[kind]

        def keras(w: np.ndarray) -> np.ndarray:
            return np.concatenate([w[k * h : (k + 1) * h] for k in order])

        w, r = ctx.const(node, 1), ctx.const(node, 2)
        if w is None or r is None:
            msg = f"ONNX {kind} {name!r}: the weights W and R must be constants"
            raise FrontendError(msg)
        g = len(order) * h
        b = ctx.const(node, 3)
        if b is None and len(node.input) > 3 and node.input[3]:
            msg = f"ONNX {kind} {name!r}: the bias B must be a constant"
            raise FrontendError(msg)
        bias = np.zeros(2 * g) if b is None else b.reshape(-1)
        self.weights = {
            "kernel": keras(w[0]).T,
            "recurrent_kernel": keras(r[0]).T,
            "bias": keras(bias[:g]),
            "recurrent_bias": keras(bias[g:]),
        }
        self.attrs: dict[str, Any] = {"units": h}
        if kind == "RNN":
            self.attrs["activation"] = _activations(node, attrs, ["tanh"])[0]
        elif kind == "GRU":
            _activations(node, attrs, ["sigmoid", "tanh"])
            self.attrs["reset_after"] = True
        else:
            _activations(node, attrs, ["sigmoid", "tanh", "tanh"])
        self.ctx, self.name, self.src, self.op = ctx, name, src, _OPS[kind]
        self.made: dict[bool, str] = {}

    def node(self, sequences: bool) -> str:
        if sequences not in self.made:
            name = self.name if sequences else f"{self.name}_last"
            attrs = {**self.attrs, "return_sequences": sequences}
            self.made[sequences] = self.ctx.builder.add(
                name, self.op, [self.src], attrs, self.weights
            )
        return self.made[sequences]


def _refuse(node: Any, what: str, supported: str) -> FrontendError:
    name = str(node.name or node.output[0])
    return FrontendError(f"ONNX {node.op_type} {name!r}: {what} is not supported; {supported}")


def _activations(node: Any, attrs: dict[str, Any], default: list[str]) -> list[str]:
    given = [a.decode() if isinstance(a, bytes) else str(a) for a in attrs.get("activations", [])]
    kinds = [a.lower() for a in given] or default
    allowed = [default] if node.op_type != "RNN" else [["tanh"], ["relu"]]
    if kinds not in allowed:
        raise _refuse(node, f"activations {given}", f"supported: {allowed} (torch's)")
    return kinds


def _pending(ctx: OnnxContext) -> dict[str, _Recurrent]:
    """The recurrent nodes converted so far, by the ONNX names of their outputs."""
    return ctx.recurrent


def recurrent(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """LSTM / GRU / RNN: forward, one direction, zero (or no) initial states, no peepholes,
    `sequence_lens`, `clip` or `input_forget`; GRU with `linear_before_reset=1` (torch's).
    """
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    if direction != "forward":
        raise _refuse(node, f"direction {direction!r}", "supported: 'forward' (one direction)")
    for key in ("clip", "input_forget"):
        if attrs.get(key):
            raise _refuse(node, f"{key}={attrs[key]}", f"supported: no {key}")
    if node.op_type == "GRU" and int(attrs.get("linear_before_reset", 0)) != 1:
        raise _refuse(
            node,
            "linear_before_reset=0",
            "supported: linear_before_reset=1 (torch's nn.GRU, Keras' reset_after=True)",
        )
    state_inputs = (5, 6) if node.op_type == "LSTM" else (5,)
    if len(node.input) > 4 and node.input[4]:
        raise _refuse(node, "sequence_lens", "supported: every sequence at full length")
    for i in state_inputs:
        if i < len(node.input) and node.input[i] and not _is_zero(ctx, str(node.input[i])):
            raise _refuse(node, f"initial state {node.input[i]!r}", "supported: zeros or none")
    if node.op_type == "LSTM" and len(node.input) > 7 and node.input[7]:
        raise _refuse(node, "peepholes P", "supported: none")
    x = str(node.input[0])
    layout = int(attrs.get("layout", 0))
    if (layout == 0 and ctx.layout.get(x) != TIME_MAJOR) or (
        layout == 1 and ctx.layout.get(x, "ir") != "ir"
    ):
        raise _refuse(
            node,
            f"input {x!r} in layout {ctx.layout.get(x, 'ir')!r}",
            "supported: a batch-first (N, seq, F) tensor, or it transposed to time-major",
        )
    rnn = _Recurrent(ctx, node, attrs, ctx.tensors[x])
    outs = list(node.output)
    table = _pending(ctx)
    for i, out in enumerate(outs):
        if out:
            table[str(out)] = rnn
            ctx.layout[str(out)] = (RNN_Y, RNN_H, "rnn_c")[i]


def _is_zero(ctx: OnnxContext, name: str) -> bool:
    c = ctx.consts.get(name)
    return ctx.layout.get(name) == ZEROS or (c is not None and not np.any(c))


def _wrap(name: str, previous: Converter | None, special: Callable[..., bool]) -> Converter:
    """`special(ctx, node, attrs)` first (True when it handled the node), else `previous`."""

    def convert(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
        if special(ctx, node, attrs):
            return
        if previous is None:
            msg = f"ONNX node {ctx.name(node)!r} of type {name!r} is supported only in the recurrent exporter's patterns (shape computations, the last time step)"
            raise FrontendError(msg)
        previous(ctx, node, attrs)

    return convert


def _layouts(ctx: OnnxContext, node: Any) -> list[str]:
    return [ctx.layout.get(str(i), "ir") for i in node.input if i]


def _mark(ctx: OnnxContext, node: Any, layout: str, ir: str | None = None) -> bool:
    out = str(node.output[0])
    ctx.layout[out] = layout
    if ir is not None:
        ctx.tensors[out] = ir
    return True


def _transpose(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> bool:
    perm = [int(p) for p in attrs.get("perm", [])]
    x = str(node.input[0])
    layout = ctx.layout.get(x, "ir")
    if perm != [1, 0, 2]:
        return False
    if layout == "ir" and x in ctx.tensors and len(ctx.builder.shape(ctx.tensors[x])) == 2:
        return _mark(ctx, node, TIME_MAJOR, ctx.tensors[x])
    if layout == TIME_MAJOR:
        return _mark(ctx, node, "ir", ctx.tensors[x])
    if layout == RNN_Y_TM:
        return _mark(ctx, node, "ir", _pending(ctx)[x].node(True))
    return False


def _squeeze(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> bool:
    x = str(node.input[0])
    layout = ctx.layout.get(x, "ir")
    if layout not in (RNN_Y, RNN_H, SHAPE):
        return False
    if layout == SHAPE:
        return _mark(ctx, node, SHAPE)
    axes = [int(a) for a in attrs.get("axes", [])]
    if not axes and ctx.const(node, 1) is not None:
        axes = [int(a) for a in np.asarray(ctx.const(node, 1)).reshape(-1)]
    rnn = _pending(ctx)[x]
    if layout == RNN_Y and axes == [1]:
        _pending(ctx)[str(node.output[0])] = rnn
        return _mark(ctx, node, RNN_Y_TM)
    if layout == RNN_H and axes == [0]:
        return _mark(ctx, node, "ir", rnn.node(False))
    msg = f"Squeeze {ctx.name(node)!r} with axes {axes} of a recurrent output: supported: the direction axis"
    raise FrontendError(msg)


def _gather(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> bool:
    """Shape values; the last time step (`[:, -1]` of the batch-first sequence, `[-1]` of the
    time-major one) or the last direction of `Y_h` (`h_n[-1]`).
    """
    layouts = _layouts(ctx, node)
    if SHAPE in layouts:
        return _mark(ctx, node, SHAPE)
    x = str(node.input[0])
    index = ctx.const(node, 1)
    axis = int(attrs.get("axis", 0))
    if index is None or index.size != 1:
        return False
    i = int(index.reshape(-1)[0])
    layout = ctx.layout.get(x, "ir")
    table = _pending(ctx)
    if layout == RNN_H and axis == 0 and i in (0, -1):
        return _mark(ctx, node, "ir", table[x].node(False))
    if layout == RNN_Y_TM and axis == 0:
        rnn, steps = table[x], ctx.builder.shape(table[x].src)[0]
        if i in (-1, steps - 1):
            return _mark(ctx, node, "ir", rnn.node(False))
    sequence = {r.made.get(True): r for r in table.values() if r.made.get(True)}
    if layout == "ir" and axis == 1 and ctx.tensors.get(x) in sequence:
        rnn = sequence[ctx.tensors[x]]
        if i in (-1, ctx.builder.shape(rnn.src)[0] - 1):
            return _mark(ctx, node, "ir", rnn.node(False))
    msg = (
        f"Gather {ctx.name(node)!r} (axis {axis}, index {i}) is not supported; supported: "
        "the last time step of a recurrent layer's sequence, and shape computations"
    )
    raise FrontendError(msg)


def _shape(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> bool:
    del attrs
    return _mark(ctx, node, SHAPE)


def _shape_value(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> bool:
    """Unsqueeze / Concat of shape values (the rest constants) stay shape values."""
    del attrs
    return SHAPE in _layouts(ctx, node) and _mark(ctx, node, SHAPE)


def _constant_of_shape(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> bool:
    from onnx import numpy_helper

    value = attrs.get("value")
    fill = 0.0 if value is None else float(numpy_helper.to_array(value).reshape(-1)[0])
    if fill != 0.0 or ctx.layout.get(str(node.input[0])) != SHAPE:
        msg = (
            f"ConstantOfShape {ctx.name(node)!r} is supported only as a recurrent layer's zero "
            f"initial state (value 0 of a shape computation), got value {fill}"
        )
        raise FrontendError(msg)
    return _mark(ctx, node, ZEROS)


def prune(ctx: OnnxContext, outputs: list[str]) -> None:
    """Drop the sequence nodes that only the exporter's transposes read (the model uses the
    last step: its own node computes it).
    """
    read = {i for n in ctx.builder.nodes for i in n.inputs} | set(outputs)
    made = {r.made[True] for r in ctx.recurrent.values() if True in r.made and False in r.made}
    unused = made - read
    ctx.builder.nodes[:] = [n for n in ctx.builder.nodes if n.name not in unused]


def wrap(converters: dict[str, Converter]) -> dict[str, Converter]:
    """The recurrent converters, and the ones they extend (the others' fall back to these)."""
    specials: dict[str, Callable[..., bool]] = {
        "Transpose": _transpose,
        "Squeeze": _squeeze,
        "Unsqueeze": _shape_value,
        "Concat": _shape_value,
        "Gather": _gather,
        "Shape": _shape,
        "ConstantOfShape": _constant_of_shape,
    }
    out = {name: _wrap(name, converters.get(name), f) for name, f in specials.items()}
    return out | {"LSTM": recurrent, "GRU": recurrent, "RNN": recurrent}
