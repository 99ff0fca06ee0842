"""Shared machinery of the recurrent layers (`lstm`, `gru`, `simple_rnn`), after hls4ml 1.3's
io_parallel `nnet_recurrent.h`.

A recurrent node reads a sequence `(n_timesteps, n_in)` and keeps a state of `units` values.
Its weights are Keras' (gate order of the framework the layer came from, rewritten to Keras'
by the frontends): `kernel (n_in, gates * units)`, `recurrent_kernel (units, gates * units)`,
`bias` and `recurrent_bias` (`gates * units`). Its attributes: `units`, `activation`,
`recurrent_activation` (`relu`, `sigmoid` or `tanh`: hls4ml's `nnet::activation` classes),
`return_sequences`, `table_size`, `static` (hls4ml's `use_static`; both give the same bits).

Fixed-point datapath of one time step (hls4ml's types):
- `dense(x_t, kernel, bias)` and `dense(h, recurrent_kernel, recurrent_bias)` are
  `nnet::dense` latency kernels whose accumulator and result are `accum_t` (so each product
  and the sum are assigned to `accum_t`); `x_t` has the input's type, the state `h` (and the
  LSTM cell state) has `result_t`; the kernel and bias are held in `weight_t` / `bias_t`, the
  recurrent kernel and recurrent bias in their own `recurrent_weight_t` /
  `recurrent_bias_t` (hls4ml's second `mult_config`);
- their sums are assigned to `accum_t`; the activations read `accum_t` (the LSTM cell
  activation reads the cell state, `result_t`) and write `accum_t`; table activations use
  hls4ml's sigmoid (inputs in [-8, 8)) and tanh ([-4, 4)) tables of `table_t` (`ops/lut.py`);
- products of two activations (and of an activation and the state) are exact, summed
  exactly, and assigned to `result_t`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, IntArray, wide_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ops import dense, runtime, sigmoid, tanh
from hepinfer.ops.base import FloatArray, Types, n_inputs, need, result_types, weight
from hepinfer.ops.bounds import (
    Bounds,
    Interval,
    cast,
    corners,
    held,
    integer_bits,
    one,
    weighted_sum,
)
from hepinfer.ops.cost import LayerCost, NodeContext, RecurrentCost
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count, need_exact
from hepinfer.ops.lut import (
    DEFAULT_TABLE_SIZE,
    build_table,
    lookup_function,
    lut_interval,
    table_type,
)

Fn = Callable[[npt.NDArray[Any]], npt.NDArray[Any]]

#: table activations: the function hls4ml tabulates and the table's input span
TABLES: dict[str, tuple[Fn, float]] = {
    "sigmoid": (sigmoid._sigmoid32, sigmoid.SPAN),
    "tanh": (tanh._tanh32, tanh.SPAN),
}
#: the activations hls4ml's recurrent kernels offer (`nnet::activation::<name>`)
ACTIVATIONS = ("relu", "sigmoid", "tanh")
#: activation kinds as the HLS kernel's constants
ACTIVATION_CODES = {"relu": 0, "sigmoid": 1, "tanh": 2}
#: the accumulator bounds use before type inference has chosen one (hls4ml's default)
DEFAULT_ACCUM = FixedType(16, 6)
#: the precision variables of a recurrent node
PRECISIONS = ("weight", "bias", "recurrent_weight", "recurrent_bias", "accum", "result", "table")
#: the weight array each weight type holds
HELD = {
    "weight": "kernel",
    "bias": "bias",
    "recurrent_weight": "recurrent_kernel",
    "recurrent_bias": "recurrent_bias",
}
#: the type of each weight array
TYPE_OF = {array: var for var, array in HELD.items()}


def accum_type(node: Node) -> FixedType:
    """The node's accumulator (`DEFAULT_ACCUM` before type inference chose it)."""
    return node.precision.accum or DEFAULT_ACCUM


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t` (output and states); weight, bias, recurrent weight and bias, result
    configured; the table type with hls4ml's default and, when the configuration left it
    `auto`, an accumulator that holds both Dense sums of a step without wrapping
    (`auto_accum`).
    """
    tr, precision = result_types(node, ("weight", "bias", "recurrent_weight", "recurrent_bias"))
    tw = need(node, "weight")
    tw = tw if tw.frac >= need(node, "recurrent_weight").frac else need(node, "recurrent_weight")
    accum = precision.accum or auto_accum(node, inputs[0], tr, tw)
    return tr, dataclasses.replace(precision, accum=accum, table=table_type(node))


def auto_accum(node: Node, tx: FixedType, tr: FixedType, tw: FixedType) -> FixedType:
    """An accumulator for `x W + b + h R + br`: integer bits for the largest such sum, and
    as many fractional bits as fit in 30 bits (the emulator's exact products of two
    accumulators need at most 62).
    """
    k, r = weight(node, "kernel"), weight(node, "recurrent_kernel")
    biases = np.abs(weight(node, "bias")) + np.abs(weight(node, "recurrent_bias"))
    top = (
        max(abs(tx.min), tx.max) * np.abs(k).sum(axis=0)
        + max(abs(tr.min), tr.max) * np.abs(r).sum(axis=0)
        + biases
        + 2.0**-tw.frac * (k.shape[0] + r.shape[0])
    )
    integer = integer_bits(-float(top.max(initial=1.0)) - 1.0, float(top.max(initial=1.0)) + 1.0)
    return FixedType(30, min(integer, 30))


def stored_values(node: Node, var: str) -> FloatArray:
    """The values kept in the `var` type: the kernel (`weight`), the bias (`bias`), the
    recurrent kernel (`recurrent_weight`) or the recurrent bias (`recurrent_bias`).
    """
    return weight(node, HELD[var]).ravel()


def units(node: Node) -> int:
    """The state size."""
    return int(node.attrs["units"])


def activation(node: Node, key: str) -> str:
    """The node's `activation` or `recurrent_activation`, checked (GraphError otherwise)."""
    kind = str(node.attrs.get(key, "tanh" if key == "activation" else "sigmoid")).lower()
    if kind not in ACTIVATIONS:
        msg = (
            f"{node.op.value} {node.name!r}: {key} {kind!r} is not supported; hls4ml's recurrent "
            f"kernels offer {', '.join(ACTIVATIONS)}"
        )
        raise GraphError(msg)
    return kind


def shape(node: Node, inputs: Sequence[TensorType], gates: int) -> tuple[int, ...]:
    """`(n_timesteps, units)` with `return_sequences`, else `(units,)`; GraphError when the
    input is not a sequence or the weights do not match it.
    """
    n_inputs(node, inputs, 1)
    if len(inputs[0].shape) != 2:
        msg = (
            f"{node.op.value} {node.name!r} reads a tensor of shape {inputs[0].shape}; it needs "
            "a sequence (n_timesteps, n_features)"
        )
        raise GraphError(msg)
    steps, n_in = inputs[0].shape
    n = units(node)
    expected = {
        "kernel": (n_in, gates * n),
        "recurrent_kernel": (n, gates * n),
        "bias": (gates * n,),
        "recurrent_bias": (gates * n,),
    }
    for key, want in expected.items():
        got = weight(node, key).shape
        if got != want:
            msg = f"{node.op.value} {node.name!r}: weight {key!r} has shape {got}, expected {want}"
            raise GraphError(msg)
    activation(node, "activation")
    activation(node, "recurrent_activation")
    return (steps, n) if node.attrs.get("return_sequences", False) else (n,)


# float reference ---------------------------------------------------------------------------


def act_float(kind: str, x: FloatArray) -> FloatArray:
    """The exact activation `kind`."""
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "sigmoid":
        out: FloatArray = 1.0 / (1.0 + np.exp(-x))
        return out
    return np.tanh(x)


def backward(node: Node) -> bool:
    """The layer reads the sequence from its last step to its first (the backward half of
    a Bidirectional layer; its output sequence is aligned with the input's steps again).
    """
    return bool(node.attrs.get("backward", False))


def ordered(node: Node, x: Any) -> Any:
    """The input batch in the order the steps run (reversed for a `backward` layer)."""
    if not backward(node):
        return x
    if isinstance(x, FxArray):
        return FxArray(np.ascontiguousarray(x.m[:, ::-1]), x.t)
    return np.ascontiguousarray(x[:, ::-1])


def by_chunks(node: Node, x: FloatArray, run: Callable[[FloatArray], FloatArray]) -> FloatArray:
    """The float recurrence `run` (steps in order, input checked) over chunks of the batch
    small enough for a step's products to stay in one BLAS thread and in cache
    (`runtime.rows_per_chunk`), spread over the runtime's threads, joined in batch order.
    """
    seq = ordered(node, x)
    check_sequence(node, seq)
    columns = weight(node, "kernel").shape[1]  # gates x units
    width = max(seq.shape[2], units(node))
    return runtime.by_rows(seq, runtime.rows_per_chunk(width * columns), run)


def output(node: Node, states: list[Any]) -> Any:
    """The layer's output from the states after each step: all of them stacked on axis 1
    (`return_sequences`; in input order for a `backward` layer) or the last one.
    """
    if node.attrs.get("return_sequences", False):
        states = states[::-1] if backward(node) else states
        if isinstance(states[0], FxArray):
            return FxArray(np.stack([s.m for s in states], axis=1), states[0].t)
        return np.stack(states, axis=1)
    return states[-1]


# fixed point -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixed:
    """The types and tables of one configured recurrent node (mantissa arithmetic helpers)."""

    node: Node
    accum: FixedType
    result: FixedType
    weight: FixedType
    bias: FixedType
    recurrent_weight: FixedType
    recurrent_bias: FixedType
    table: FixedType
    table_size: int
    #: the Dense weights as mantissas, by (kernel, bias) name: converted once per call
    prepared: dict[tuple[str, str], tuple[IntArray, IntArray]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, node: Node, *inputs: FixedType) -> Fixed:
        """The node's types; GraphError when products of them do not fit int64 exactly."""
        out = cls(
            node,
            accum_type(node),
            need(node, "result"),
            need(node, "weight"),
            need(node, "bias"),
            need(node, "recurrent_weight"),
            need(node, "recurrent_bias"),
            table_type(node),
            int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE)),
        )
        widest = max(out.accum.width, out.result.width, *(t.width for t in inputs))
        if 2 * widest + 2 > 62:
            msg = (
                f"{node.op.value} {node.name!r}: types of {widest} bits make products wider than "
                "the emulator's exact int64 arithmetic; use accum, result and input types of at "
                "most 30 bits"
            )
            raise GraphError(msg)
        return out

    def type_of(self, array: str) -> FixedType:
        """The type that holds weight array `array` (`kernel`, `recurrent_bias`, ...)."""
        t: FixedType = getattr(self, TYPE_OF[array])
        return t

    def dense(self, xm: IntArray, tx: FixedType, kernel: str, bias: str) -> IntArray:
        """`nnet::dense` with accumulator and result `accum_t`: mantissas in `accum`; the
        kernel and bias in their own types (`type_of`), converted once per call.
        """
        tw, tb = self.type_of(kernel), self.type_of(bias)
        if (kernel, bias) not in self.prepared:
            wm = tw.to_mantissa(weight(self.node, kernel))
            bm = self.accum.cast_mantissa(tb.to_mantissa(weight(self.node, bias)), tb)
            self.prepared[kernel, bias] = wm, bm
        wm, bm = self.prepared[kernel, bias]
        return dense.accumulate(xm, wm, tx, tw, self.accum, bm)

    def assign(self, t: FixedType, *terms: tuple[IntArray, int]) -> IntArray:
        """The exact sum of `terms` (mantissa, fractional bits) assigned to `t`."""
        frac = max(f for _, f in terms)
        total = sum((m << (frac - f) for m, f in terms), np.zeros((), dtype=np.int64))
        return t.cast_mantissa(np.asarray(total, dtype=np.int64), wide_type(frac))

    def activation(
        self, kind: str, t_in: FixedType, out: FixedType | None = None
    ) -> Callable[[IntArray], IntArray]:
        """hls4ml's `nnet::activation::<kind>` from `t_in` into `out` (default `accum`), as a
        function of the mantissas, its table resolved once (for the step loops).
        """
        t_out = out or self.accum
        if kind == "relu":
            return lambda m: t_out.cast_mantissa(np.maximum(m, 0), t_in)
        fn, span = TABLES[kind]
        return lookup_function(fn, self.table_size, span, self.table, t_in, t_out)


def check_sequence(node: Node, x: npt.NDArray[Any]) -> None:
    """GraphError unless the batch is (batch, n_timesteps, n_in)."""
    dims = x.shape
    if len(dims) != 3:
        msg = f"{node.op.value} {node.name!r} got a batch of shape {dims}; it needs 3 axes"
        raise GraphError(msg)


# bounds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounder:
    """Interval rules of one step, sound for the fixed-point datapath (`Fixed`)."""

    node: Node

    def dense(self, iv: Interval, kernel: str, bias: str) -> Interval:
        p = dataclasses.replace(self.node.precision, accum=accum_type(self.node))
        w = held(weight(self.node, kernel), getattr(p, TYPE_OF[kernel]))
        b = held(held(weight(self.node, bias), getattr(p, TYPE_OF[bias])), p.accum)
        return weighted_sum(iv[0], iv[1], w, p.accum, b)

    def add(self, a: Interval, b: Interval, t: FixedType | None) -> Interval:
        return cast(t, (a[0] + b[0], a[1] + b[1]))

    def act(self, kind: str, iv: Interval, out: FixedType | None = None) -> Interval:
        accum = out or accum_type(self.node)
        if kind == "relu":
            return cast(accum, (np.maximum(iv[0], 0.0), np.maximum(iv[1], 0.0)))
        fn, span = TABLES[kind]
        limits = (0.0, 1.0) if kind == "sigmoid" else (-1.0, 1.0)
        return cast(accum, lut_interval(self.node, iv[0], iv[1], fn, span, limits))


def product(a: Interval, b: Interval) -> Interval:
    """Bounds of an element-wise product."""
    return corners(a, b)


def sequence_interval(
    node: Node, inputs: Sequence[Bounds], step: Callable[[Interval, Interval], Interval]
) -> Interval:
    """Bounds of the output: `step(x_t bounds, state bounds)` iterated over the time steps
    from a zero state, the union of the states (or the last one).
    """
    lo, hi = one(node, inputs)
    n = units(node)
    state: Interval = (np.zeros(n), np.zeros(n))
    seen = []
    steps = range(lo.shape[0])
    for t in reversed(steps) if backward(node) else steps:
        state = step((lo[t], hi[t]), state)
        seen.append(state)
    seen = seen[::-1] if backward(node) else seen
    if node.attrs.get("return_sequences", False):
        return np.stack([s[0] for s in seen]), np.stack([s[1] for s in seen])
    return state


# HLS ----------------------------------------------------------------------------------------


def lowering(node: Node, inputs: Sequence[TensorType], kernel: str, gates: int) -> Lowering:
    """The `<kernel>_stack` call: sizes, activation kinds, table constants, types, the four
    weight arrays and the two activation tables (built as the emulator builds them).
    """
    inputs_count(node, inputs, 1, "HLS")
    x = fixed(node, inputs[0])
    need_exact(x, f"the input of {node.name!r}")
    f = Fixed.of(node, x)
    steps, n_in = inputs[0].shape
    n = units(node)
    reuse = int(node.attrs.get("reuse_factor", 1))
    if str(node.attrs.get("strategy", "Latency")).lower() != "latency":
        msg = f"{node.op.value} {node.name!r}: the HLS recurrent kernels offer the Latency strategy"
        raise HlsError(msg)
    kinds = [activation(node, "recurrent_activation"), activation(node, "activation")]
    consts = {
        "n_in": str(n_in),
        "n_out": str(node.out.size),
        "n_state": str(n),
        "n_gates": str(gates),
        "n_sequence": str(steps),
        "n_sequence_out": str(steps if node.attrs.get("return_sequences", False) else 1),
        "reuse_factor": str(reuse),
        "table_size": str(f.table_size),
        "recr_act": str(ACTIVATION_CODES[kinds[0]]),
        "act": str(ACTIVATION_CODES[kinds[1]]),
        "use_static": "true" if node.attrs.get("static", True) else "false",
        "reset_after": "true" if node.attrs.get("reset_after", True) else "false",
        "backward": "true" if backward(node) else "false",
    }
    arrays = [
        HlsArray(prefix, var, f.type_of(key), f.type_of(key).to_mantissa(weight(node, key)))
        for prefix, var, key in (
            ("w", "weight", "kernel"),
            ("wr", "recurrent_weight", "recurrent_kernel"),
            ("b", "bias", "bias"),
            ("br", "recurrent_bias", "recurrent_bias"),
        )
    ]
    for prefix, kind in zip(("tr", "ta"), kinds, strict=True):
        fn, span = TABLES.get(kind, TABLES["sigmoid"])  # relu reads no table: a placeholder
        arrays.append(
            HlsArray(prefix, "table", f.table, build_table(fn, f.table_size, span, f.table))
        )
    types = {
        "weight_t": f.weight,
        "bias_t": f.bias,
        "recurrent_weight_t": f.recurrent_weight,
        "recurrent_bias_t": f.recurrent_bias,
        "accum_t": f.accum,
        "table_t": f.table,
    }
    return Lowering(kernel, consts, types, tuple(arrays))


# cost ---------------------------------------------------------------------------------------


def cost(node: Node, ctx: NodeContext, gates: int) -> list[LayerCost]:
    """One `RecurrentCost`: the step's products, activations and update, over the steps."""
    steps, n_in = ctx.shape
    p = node.precision
    kinds = {
        k: activation(node, k) for k in ("activation", "recurrent_activation") if k in node.attrs
    }
    return [
        RecurrentCost(
            name=node.name,
            n_timesteps=steps,
            n_in=n_in,
            n_state=units(node),
            gates=gates,
            input=ctx.input,
            weight=p.weight or ctx.default,
            bias=p.bias or ctx.default,
            recurrent_weight=p.recurrent_weight or p.weight or ctx.default,
            recurrent_bias=p.recurrent_bias or p.bias or ctx.default,
            accum=accum_type(node),
            output=p.result,
            reuse_factor=int(node.attrs.get("reuse_factor", 1)),
            table_size=int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE)),
            table_bits=table_type(node).width,
            io_type=ctx.io_type,
            weights=weight(node, "kernel"),
            recurrent_weights=weight(node, "recurrent_kernel"),
            **kinds,
        )
    ]
