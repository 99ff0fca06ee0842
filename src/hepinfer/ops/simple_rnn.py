"""SimpleRNN: `h = act(x_t W + b + h R + br)`, the state starting at zero.

hls4ml 1.3's Vivado/Vitis backend has no SimpleRNN kernel (its writer emits no call for the
layer, so the project's output is never written); hls4ml's Quartus kernel (`simple_rnn_cell`)
fixes the datapath hepinfer follows, in the types of its LSTM and GRU: the two Dense sums in
`accum_t` (as `nnet::dense` with accumulator and result `accum_t`), their sum assigned to
`accum_t`, and the activation (relu, or hls4ml's sigmoid / tanh table) written straight into
the state's type `result_t` (`nnet::activation<accum_t, res_T>`, one assignment).
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
from hepinfer.ops.bounds import Bounds, Interval
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering

GATES = 1


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    return recurrent.shape(node, inputs, GATES)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return recurrent.by_chunks(node, xs[0], lambda x: _float(node, x))


def _float(node: Node, x: FloatArray) -> FloatArray:
    """The float recurrence on sequences in step order."""
    act = recurrent.activation(node, "activation")
    k, r = weight(node, "kernel"), weight(node, "recurrent_kernel")
    b = weight(node, "bias") + weight(node, "recurrent_bias")
    h = np.zeros((x.shape[0], recurrent.units(node)))
    states = []
    for t in range(x.shape[1]):
        h = recurrent.act_float(act, x[:, t] @ k + h @ r + b)
        states.append(h)
    out: FloatArray = recurrent.output(node, states)
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = recurrent.ordered(node, xs[0])
    recurrent.check_sequence(node, x.m)
    fx = recurrent.Fixed.of(node, x.t)
    ta, tr = fx.accum, fx.result
    act = recurrent.activation(node, "activation")
    batch, steps, n_in = x.m.shape
    ax = fx.dense(x.m.reshape(-1, n_in), x.t, "kernel", "bias").reshape(batch, steps, -1)
    activate = fx.activation(act, ta, tr)
    h = np.zeros((batch, recurrent.units(node)), dtype=np.int64)
    states = []
    for t in range(steps):
        ah = fx.dense(h, tr, "recurrent_kernel", "recurrent_bias")
        h = activate(fx.assign(ta, (ax[:, t], ta.frac), (ah, ta.frac)))
        states.append(FxArray(h, tr))
    out: FxArray = recurrent.output(node, states)
    return out


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t` (output and state), accum and table (see `recurrent.infer_types`)."""
    return recurrent.infer_types(node, inputs)


def stored_values(node: Node, var: str) -> FloatArray:
    """Each weight array has its own type (`recurrent.stored_values`)."""
    return recurrent.stored_values(node, var)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The datapath's bounds, step by step from a zero state (see `recurrent.Bounder`)."""
    bd = recurrent.Bounder(node)
    p = dataclasses.replace(node.precision, accum=recurrent.accum_type(node))
    act = recurrent.activation(node, "activation")

    def step(x: Interval, h: Interval) -> Interval:
        a = bd.add(
            bd.dense(x, "kernel", "bias"),
            bd.dense(h, "recurrent_kernel", "recurrent_bias"),
            p.accum,
        )
        return bd.act(act, a, p.result)

    return recurrent.sequence_interval(node, inputs, step)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`simple_rnn`: `hepinfer::recurrent_stack` of `kernels/hepinfer_recurrent.h`."""
    return recurrent.lowering(node, inputs, "simple_rnn", GATES)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """The step's two matrix products and activation, repeated over the time steps."""
    return recurrent.cost(node, ctx, GATES)


SPEC = OpSpec(
    Op.SIMPLE_RNN,
    shape,
    run_float,
    run_fixed,
    recurrent.PRECISIONS,
    "SimpleRNN",
)
