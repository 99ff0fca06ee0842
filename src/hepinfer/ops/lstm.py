"""LSTM: hls4ml 1.3's `nnet::lstm_static` / `nnet::lstm` (io_parallel), gate order i, f, c, o.

One step, Keras' formulation: `a = x_t W + b + h R + br`, `i, f, o = rec(a_i, a_f, a_o)`,
`c~ = act(a_c)`, `s = c~ * i + s * f`, `h = o * act(s)`; the states start at zero.
Fixed point (see `hepinfer.ops.recurrent`): `a` in `accum_t`, the gate activations in
`accum_t`, the cell state `s` and the output `h` assigned to `result_t`, `act(s)` reads
`result_t` and writes `accum_t`. hls4ml's static and non-static kernels compute the same bits
(the static one keeps the state in static variables, reset at the first step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import recurrent
from hepinfer.ops.base import FloatArray, OpSpec, Types, weight
from hepinfer.ops.bounds import Bounds, Interval, cast
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering

GATES = 4


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    return recurrent.shape(node, inputs, GATES)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return recurrent.by_chunks(node, xs[0], lambda x: _float(node, x))


def _float(node: Node, x: FloatArray) -> FloatArray:
    """The float recurrence on sequences in step order."""
    n = recurrent.units(node)
    rec = recurrent.activation(node, "recurrent_activation")
    act = recurrent.activation(node, "activation")
    k, r = weight(node, "kernel"), weight(node, "recurrent_kernel")
    b = weight(node, "bias") + weight(node, "recurrent_bias")
    h = np.zeros((x.shape[0], n))
    s = np.zeros((x.shape[0], n))
    states = []
    for t in range(x.shape[1]):
        a = x[:, t] @ k + h @ r + b
        i, f = recurrent.act_float(rec, a[:, :n]), recurrent.act_float(rec, a[:, n : 2 * n])
        c, o = (
            recurrent.act_float(act, a[:, 2 * n : 3 * n]),
            recurrent.act_float(rec, a[:, 3 * n :]),
        )
        s = c * i + s * f
        h = o * recurrent.act_float(act, s)
        states.append(h)
    out: FloatArray = recurrent.output(node, states)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = recurrent.ordered(node, xs[0])
    recurrent.check_sequence(node, x.m)
    fx = recurrent.Fixed.of(node, x.t)
    ta, tr = fx.accum, fx.result
    n = recurrent.units(node)
    rec = recurrent.activation(node, "recurrent_activation")
    act = recurrent.activation(node, "activation")
    batch, steps, n_in = x.m.shape
    xin = fx.dense(x.m.reshape(-1, n_in), x.t, "kernel", "bias").reshape(batch, steps, -1)
    gate, cell, squash = fx.activation(rec, ta), fx.activation(act, ta), fx.activation(act, tr)
    h = np.zeros((batch, n), dtype=np.int64)
    s = np.zeros((batch, n), dtype=np.int64)
    states = []
    for t in range(steps):
        hr = fx.dense(h, tr, "recurrent_kernel", "recurrent_bias")
        a = fx.assign(ta, (xin[:, t], ta.frac), (hr, ta.frac))
        ifo = gate(np.concatenate([a[:, : 2 * n], a[:, 3 * n :]], axis=1))
        i, f, o = ifo[:, :n], ifo[:, n : 2 * n], ifo[:, 2 * n :]
        c = cell(a[:, 2 * n : 3 * n])
        s = fx.assign(tr, (c * i, 2 * ta.frac), (s * f, tr.frac + ta.frac))
        h = fx.assign(tr, (o * squash(s), 2 * ta.frac))
        states.append(FxArray(h, tr))
    out: FxArray = recurrent.output(node, states)
    return out


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t` (output and states), accum and table (see `recurrent.infer_types`)."""
    return recurrent.infer_types(node, inputs)


def stored_values(node: Node, var: str) -> FloatArray:
    """Each weight array has its own type (`recurrent.stored_values`)."""
    return recurrent.stored_values(node, var)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The datapath's bounds, step by step from zero states (see `recurrent.Bounder`)."""
    bd = recurrent.Bounder(node)
    p = dataclasses.replace(node.precision, accum=recurrent.accum_type(node))
    n = recurrent.units(node)
    rec = recurrent.activation(node, "recurrent_activation")
    act = recurrent.activation(node, "activation")
    cell: list[Interval] = [(np.zeros(n), np.zeros(n))]

    def step(x: Interval, h: Interval) -> Interval:
        a = bd.add(
            bd.dense(x, "kernel", "bias"),
            bd.dense(h, "recurrent_kernel", "recurrent_bias"),
            p.accum,
        )
        g = [
            bd.act(rec if k != 2 else act, (a[0][k * n : (k + 1) * n], a[1][k * n : (k + 1) * n]))
            for k in range(4)
        ]
        ci = recurrent.product(g[2], g[0])
        sf = recurrent.product(cell[0], g[1])
        cell[0] = cast(p.result, (ci[0] + sf[0], ci[1] + sf[1]))
        out = cast(p.result, recurrent.product(g[3], bd.act(act, cell[0])))
        return np.minimum(out[0], cell[0][0]), np.maximum(out[1], cell[0][1])

    # the cell state is stored in `result_t` too: the bounds cover it (types chosen from
    # them hold it)
    return recurrent.sequence_interval(node, inputs, step)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`lstm`: `hepinfer::lstm_stack` of `kernels/hepinfer_recurrent.h`."""
    return recurrent.lowering(node, inputs, "lstm", GATES)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """The step's two matrix products and activations, repeated over the time steps."""
    return recurrent.cost(node, ctx, GATES)


SPEC = OpSpec(Op.LSTM, shape, run_float, run_fixed, recurrent.PRECISIONS, "LSTM")
