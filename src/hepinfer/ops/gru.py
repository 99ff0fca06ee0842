"""GRU: hls4ml 1.3's `nnet::gru_static` / `nnet::gru` (io_parallel), Keras gate order z, r, h.

`reset_after=True` (Keras 3's default, PyTorch's form): `ax = x_t W + b`, `ah = h R + br`,
`z, r = rec(ax_zr + ah_zr)`, `h~ = act(ax_h + r * ah_h)`, `h = (1 - z) h~ + z h`.
Fixed point exactly as hls4ml: the two Dense sums in `accum_t`, `ax + ah` and `r * ah_h`
assigned to `accum_t`, activations into `accum_t`, the state update computed exactly and
assigned to `result_t`.

`reset_after=False` (Keras' other form): `h~ = act(ax_h + (r * h) R_h)` with one bias. hls4ml
1.3's Vivado/Vitis kernel always applies the reset gate after the product (it reads a
`reset_after=False` layer as if it were `True`), so it has no oracle; hepinfer computes the
Keras form: `r * h` is assigned to `result_t` (the type of the state that the recurrent Dense
reads), `(r * h) R_h` is a Dense with accumulator `accum_t`, and the rest is as above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, IntArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import dense, recurrent
from hepinfer.ops.base import FloatArray, OpSpec, Types, weight
from hepinfer.ops.bounds import Bounds, Interval, cast, held, weighted_sum
from hepinfer.ops.cost import LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering

GATES = 3


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    return recurrent.shape(node, inputs, GATES)


def reset_after(node: Node) -> bool:
    """Keras' `reset_after` (True: the reset gate multiplies `h R_h + br_h`)."""
    return bool(node.attrs.get("reset_after", True))


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return recurrent.by_chunks(node, xs[0], lambda x: _float(node, x))


def _float(node: Node, x: FloatArray) -> FloatArray:
    """The float recurrence on sequences in step order."""
    n = recurrent.units(node)
    rec = recurrent.activation(node, "recurrent_activation")
    act = recurrent.activation(node, "activation")
    k, r = weight(node, "kernel"), weight(node, "recurrent_kernel")
    b, br = weight(node, "bias"), weight(node, "recurrent_bias")
    h = np.zeros((x.shape[0], n))
    states = []
    for t in range(x.shape[1]):
        ax = x[:, t] @ k + b
        if reset_after(node):
            ah = h @ r + br
            zr = recurrent.act_float(rec, ax[:, : 2 * n] + ah[:, : 2 * n])
            cand = ax[:, 2 * n :] + zr[:, n:] * ah[:, 2 * n :]
        else:
            zr = recurrent.act_float(rec, ax[:, : 2 * n] + h @ r[:, : 2 * n] + br[: 2 * n])
            cand = ax[:, 2 * n :] + (zr[:, n:] * h) @ r[:, 2 * n :] + br[2 * n :]
        z = zr[:, :n]
        h = (1.0 - z) * recurrent.act_float(act, cand) + z * h
        states.append(h)
    out: FloatArray = recurrent.output(node, states)
    return out


def _one_minus(z: IntArray, t: FixedType) -> tuple[IntArray, int]:
    """`1 - z` exactly (ap_fixed widens): mantissa and fractional bits."""
    frac = max(t.frac, 0)
    return (np.int64(1) << frac) - (z << (frac - t.frac)), frac


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = recurrent.ordered(node, xs[0])
    recurrent.check_sequence(node, x.m)
    fx = recurrent.Fixed.of(node, x.t)
    ta, tr, twr, tbr = fx.accum, fx.result, fx.recurrent_weight, fx.recurrent_bias
    n = recurrent.units(node)
    rec = recurrent.activation(node, "recurrent_activation")
    act = recurrent.activation(node, "activation")
    batch, steps, n_in = x.m.shape
    ax = fx.dense(x.m.reshape(-1, n_in), x.t, "kernel", "bias").reshape(batch, steps, -1)
    wh = twr.to_mantissa(weight(node, "recurrent_kernel")[:, 2 * n :])
    bh = ta.cast_mantissa(tbr.to_mantissa(weight(node, "recurrent_bias")[2 * n :]), tbr)
    gate, cell = fx.activation(rec, ta), fx.activation(act, ta)
    h = np.zeros((batch, n), dtype=np.int64)
    states = []
    for t in range(steps):
        ah = fx.dense(h, tr, "recurrent_kernel", "recurrent_bias")
        zr = gate(fx.assign(ta, (ax[:, t, : 2 * n], ta.frac), (ah[:, : 2 * n], ta.frac)))
        z, r = zr[:, :n], zr[:, n:]
        if reset_after(node):
            gated = fx.assign(ta, (r * ah[:, 2 * n :], 2 * ta.frac))
        else:
            rh = fx.assign(tr, (r * h, ta.frac + tr.frac))
            gated = dense.accumulate(rh, wh, tr, twr, ta, bh)
        cand = cell(fx.assign(ta, (ax[:, t, 2 * n :], ta.frac), (gated, ta.frac)))
        keep, kfrac = _one_minus(z, ta)
        h = fx.assign(tr, (cand * keep, ta.frac + kfrac), (h * z, tr.frac + ta.frac))
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
    """The datapath's bounds, step by step from a zero state (see `recurrent.Bounder`)."""
    bd = recurrent.Bounder(node)
    p = dataclasses.replace(node.precision, accum=recurrent.accum_type(node))
    n = recurrent.units(node)
    rec = recurrent.activation(node, "recurrent_activation")
    act = recurrent.activation(node, "activation")

    def part(iv: Interval, lo: int, hi: int) -> Interval:
        return iv[0][lo:hi], iv[1][lo:hi]

    def step(x: Interval, h: Interval) -> Interval:
        ax = bd.dense(x, "kernel", "bias")
        ah = bd.dense(h, "recurrent_kernel", "recurrent_bias")
        zr = bd.act(rec, bd.add(part(ax, 0, 2 * n), part(ah, 0, 2 * n), p.accum))
        z, r = part(zr, 0, n), part(zr, n, 2 * n)
        if reset_after(node):
            gated = cast(p.accum, recurrent.product(r, part(ah, 2 * n, 3 * n)))
        else:
            rh = cast(p.result, recurrent.product(r, h))
            w = held(weight(node, "recurrent_kernel")[:, 2 * n :], p.recurrent_weight)
            b = held(held(weight(node, "recurrent_bias")[2 * n :], p.recurrent_bias), p.accum)
            gated = weighted_sum(rh[0], rh[1], w, p.accum, b)
        cand = bd.act(act, bd.add(part(ax, 2 * n, 3 * n), gated, p.accum))
        keep = (1.0 - z[1], 1.0 - z[0])
        a, c = recurrent.product(cand, keep), recurrent.product(h, z)
        return cast(p.result, (a[0] + c[0], a[1] + c[1]))

    return recurrent.sequence_interval(node, inputs, step)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`gru`: `hepinfer::gru_stack` of `kernels/hepinfer_recurrent.h`."""
    return recurrent.lowering(node, inputs, "gru", GATES)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """The step's two matrix products and activations, repeated over the time steps."""
    return recurrent.cost(node, ctx, GATES)


SPEC = OpSpec(Op.GRU, shape, run_float, run_fixed, recurrent.PRECISIONS, "GRU")
