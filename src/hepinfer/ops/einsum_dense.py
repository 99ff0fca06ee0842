"""EinsumDense (Keras 3), as hls4ml 1.3 computes it (nnet_einsum_dense.h).

hls4ml reads the equation (batch axis stripped, e.g. `bc,cd->bd`) as groups of Dense layers
(`hls4ml.utils.einsum_utils.parse_einsum`): the input is transposed to (I, L0, C) (axes in
both operands and the output, axes of the input only, contracted axes), and each of the
I * L0 rows goes through hls4ml's Dense (`dense_latency`: products and sum in `accum_t`,
one cast to `result_t`) with the kernel of its group, (C, L1), and its own bias row; the
(I, L0, L1) result is transposed to the output's axes. The bias is broadcast to the output
shape (zeros without `bias_axes`).

Attrs: `in_perm` (input axes -> (I, L0, C) order), `groups` (I, L0), `out_shape`,
`out_perm` (the (I.., L0.., L1..) axes -> the output's); weights `kernel` (I, C, L1) and
`bias` (I, L0, L1), hls4ml's layouts (built by `recipe`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import dense
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types, weight
from hepinfer.ops.bounds import Bounds, Interval, held, one, weighted_sum
from hepinfer.ops.cost import DenseCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count, unsupported

INDEX = FixedType(16, 16, False)  #: type of the gather/scatter index arrays of the HLS kernel


@dataclass(frozen=True)
class Recipe:
    """hls4ml's execution plan of an EinsumDense equation (batch axis stripped)."""

    in_perm: tuple[int, ...]
    kernel_perm: tuple[int, ...]
    inplace: int
    free_data: int
    free_kernel: int
    contract: int
    out_interpret: tuple[int, ...]
    out_perm: tuple[int, ...]


def recipe(equation: str, x_shape: tuple[int, ...], k_shape: tuple[int, ...]) -> Recipe:
    """`parse_einsum` of hls4ml 1.3 for `in0,in1->out` without `...` (GraphError otherwise)."""
    try:
        ins, out = equation.replace(" ", "").split("->")
        in0, in1 = ins.split(",")
    except ValueError:
        msg = f"EinsumDense equation {equation!r} is not of the form 'in,kernel->out'"
        raise GraphError(msg) from None
    wrong = (
        "..." in equation
        or len(set(in0)) != len(in0)
        or len(set(in1)) != len(in1)
        or len(set(out)) != len(out)
        or len(in0) != len(x_shape)
        or len(in1) != len(k_shape)
        or not set(out) <= set(in0) | set(in1)
        or (set(in0) | set(in1)) - set(out) - (set(in0) & set(in1))
    )
    if wrong:
        msg = (
            f"EinsumDense equation {equation!r} on an input of shape {x_shape} and a kernel of "
            f"shape {k_shape} is not supported; supported (as hls4ml 1.3): no '...', each "
            "axis once per operand, every axis summed over appears in both operands"
        )
        raise GraphError(msg)
    common = set(in0) & set(in1)
    contract = sorted(common - set(out), key=in1.index)
    inplace = sorted(common & set(out), key=in1.index)
    inv0 = sorted((set(out) - common) & set(in0), key=in0.index)
    inv1 = sorted((set(out) - common) & set(in1), key=in1.index)
    for a in common:
        if x_shape[in0.index(a)] != k_shape[in1.index(a)]:
            msg = f"EinsumDense {equation!r}: axis {a!r} has sizes {x_shape} vs {k_shape}"
            raise GraphError(msg)
    inplace_shape = tuple(x_shape[in0.index(a)] for a in inplace)
    inv0_shape = tuple(x_shape[in0.index(a)] for a in inv0)
    inv1_shape = tuple(k_shape[in1.index(a)] for a in inv1)
    order = [out.index(a) for a in inplace + inv0 + inv1]
    return Recipe(
        in_perm=tuple(in0.index(a) for a in inplace + inv0 + contract),
        kernel_perm=tuple(in1.index(a) for a in inplace + inv1 + contract),
        inplace=math.prod(inplace_shape),
        free_data=math.prod(inv0_shape),
        free_kernel=math.prod(inv1_shape),
        contract=math.prod(x_shape[in0.index(a)] for a in contract),
        out_interpret=inplace_shape + inv0_shape + inv1_shape,
        out_perm=tuple(int(i) for i in np.argsort(order)),
    )


def node_data(
    equation: str, x_shape: tuple[int, ...], kernel: npt.ArrayLike, bias: npt.ArrayLike | None
) -> tuple[dict[str, Any], dict[str, FloatArray]]:
    """(attrs, weights) of an EinsumDense node: hls4ml's kernel and bias layouts."""
    k = np.asarray(kernel, np.float64)
    r = recipe(equation, x_shape, tuple(k.shape))
    k = k.transpose(r.kernel_perm)
    k = k.reshape(r.inplace, r.free_kernel, r.contract).transpose(0, 2, 1)
    out_shape = tuple(r.out_interpret[i] for i in r.out_perm)
    full = np.zeros(out_shape) if bias is None else np.broadcast_to(bias, out_shape)
    b = np.asarray(full, np.float64).transpose(tuple(int(i) for i in np.argsort(r.out_perm)))
    attrs = {
        "equation": equation,
        "in_perm": r.in_perm,
        "groups": (r.inplace, r.free_data),
        "out_interpret": r.out_interpret,
        "out_perm": r.out_perm,
    }
    weights = {"kernel": k, "bias": b.reshape(r.inplace, r.free_data, r.free_kernel)}
    return attrs, weights


def _out_shape(node: Node) -> tuple[int, ...]:
    inter = tuple(int(v) for v in node.attrs["out_interpret"])
    return tuple(inter[int(i)] for i in node.attrs["out_perm"])


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    groups, (c, l1) = node.attrs["groups"], weight(node, "kernel").shape[1:]
    if inputs[0].size != int(groups[0]) * int(groups[1]) * int(c):
        msg = f"EinsumDense {node.name!r}: input {inputs[0].shape} does not fit its kernel"
        raise GraphError(msg)
    del l1
    return _out_shape(node)


def _rows(node: Node, x: np.ndarray) -> np.ndarray:
    """X (batch, *input) -> (batch, I, L0, C)."""
    perm = (0, *(1 + int(i) for i in node.attrs["in_perm"]))
    i, l0 = (int(v) for v in node.attrs["groups"])
    return x.transpose(perm).reshape(x.shape[0], i, l0, -1)


def _back(node: Node, y: np.ndarray) -> np.ndarray:
    """Y (batch, I, L0, L1) -> (batch, *output)."""
    inter = tuple(int(v) for v in node.attrs["out_interpret"])
    perm = (0, *(1 + int(i) for i in node.attrs["out_perm"]))
    return y.reshape(y.shape[0], *inter).transpose(perm)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    rows = _rows(node, xs[0])
    y = np.einsum("bilc,icj->bilj", rows, weight(node, "kernel")) + weight(node, "bias")
    out: FloatArray = _back(node, y)
    return out


Groups = tuple[tuple[int, np.ndarray, np.ndarray], ...]
#: id(node) -> (the node, kernel mantissas, row groups): one computation per node
_PREPARED: dict[int, tuple[Node, np.ndarray, Groups]] = {}


def _prepared(node: Node, tw: FixedType, tb: FixedType, ta: FixedType) -> tuple[np.ndarray, Groups]:
    """The kernel's mantissas and, per inplace group i, the rows that share a bias row
    (`(i, rows, bias in accum_t)`): one Dense computes all of them at once.
    """
    hit = _PREPARED.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1], hit[2]
    wm = tw.to_mantissa(weight(node, "kernel"))
    bias = ta.cast_mantissa(tb.to_mantissa(weight(node, "bias")), tb)
    groups: list[tuple[int, np.ndarray, np.ndarray]] = []
    for i in range(bias.shape[0]):
        same, which = np.unique(bias[i], axis=0, return_inverse=True)
        which = np.asarray(which).reshape(-1)
        groups.extend((i, np.flatnonzero(which == u), same[u]) for u in range(same.shape[0]))
    if len(_PREPARED) > 256:
        _PREPARED.clear()
    _PREPARED[id(node)] = (node, wm, tuple(groups))
    return wm, tuple(groups)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tb, ta, tr = (need(node, v) for v in ("weight", "bias", "accum", "result"))
    rows = _rows(node, x.m)
    wm, groups = _prepared(node, tw, tb, ta)
    batch, l1 = rows.shape[0], wm.shape[2]
    out = np.empty((*rows.shape[:3], l1), dtype=np.int64)
    for i, sel, bias in groups:
        xs_i = np.ascontiguousarray(rows[:, i, sel].reshape(batch * sel.size, -1))
        acc = dense.accumulate(xs_i, wm[i], x.t, tw, ta, bias)
        out[:, i, sel] = tr.cast_mantissa(acc, ta).reshape(batch, sel.size, l1)
    return FxArray(np.ascontiguousarray(_back(node, out)), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """`result_t` and the configured weight, bias, accum, result (as Dense)."""
    del inputs
    return result_types(node, ("weight", "bias", "accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per group, Dense's bound (`weighted_sum`) of its row of inputs."""
    lo, hi = one(node, inputs)
    p = node.precision
    kernel = held(weight(node, "kernel"), p.weight)
    bias = held(held(weight(node, "bias"), p.bias), p.accum)
    rlo, rhi = _rows(node, lo[None])[0], _rows(node, hi[None])[0]
    out_lo = np.empty(bias.shape)
    out_hi = np.empty(bias.shape)
    for i in range(bias.shape[0]):
        for l0 in range(bias.shape[1]):
            a, b = weighted_sum(rlo[i, l0], rhi[i, l0], kernel[i], p.accum, bias[i, l0])
            out_lo[i, l0], out_hi[i, l0] = a, b
    return _back(node, out_lo[None])[0], _back(node, out_hi[None])[0]


def _positions(node: Node, in_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(gather, scatter): input element of each (I, L0, C) position; output element of each
    (I, L0, L1) position (the kernel's two transposes as index arrays).
    """
    x_idx = np.arange(math.prod(in_shape)).reshape(1, *in_shape)
    gather = _rows(node, x_idx).reshape(-1)
    i, l0 = (int(v) for v in node.attrs["groups"])
    l1 = int(weight(node, "kernel").shape[2])
    # output element k comes from the (I, L0, L1) position scatter[k]
    scatter = _back(node, np.arange(i * l0 * l1).reshape(1, i, l0, l1)).reshape(-1)
    return gather, scatter


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`einsum_dense`: gather the input into (I, L0, C) rows, one `dense` per row with its
    group's kernel and bias row, scatter the (I, L0, L1) results to the output's order.
    """
    inputs_count(node, inputs, 1, "HLS")
    if str(node.attrs.get("strategy", "Latency")).lower() == "resource":
        raise unsupported(node, "HLS", "the Resource strategy (hls4ml 1.3: Latency only)")
    kernel = weight(node, "kernel")
    groups, c, l1 = node.attrs["groups"], int(kernel.shape[1]), int(kernel.shape[2])
    per_row = {"n_in": str(c), "n_out": str(l1)}
    low = dense.lowering(node, per_row, kernel[0])  # types and constants of one row's Dense
    tw, tb = need(node, "weight"), need(node, "bias")
    gather, scatter = _positions(node, inputs[0].shape)
    if max(gather.size, scatter.size) > 1 << 16:
        msg = f"EinsumDense {node.name!r}: more than 65,536 values has no HLS kernel"
        raise GraphError(msg)
    consts = {
        **low.consts,
        "inplace": str(int(groups[0])),
        "free_data": str(int(groups[1])),
        "n_total_in": str(inputs[0].size),
        "n_total_out": str(node.out.size),
        "n_weights": str(kernel.size),
    }
    arrays = (
        HlsArray("w", "weight", tw, tw.to_mantissa(kernel).reshape(-1)),
        HlsArray("b", "bias", tb, tb.to_mantissa(weight(node, "bias")).reshape(-1)),
        HlsArray("g", "index", INDEX, gather.astype(np.int64)),
        HlsArray("s", "index", INDEX, scatter.astype(np.int64)),
    )
    return replace(
        low,
        kernel="einsum_dense",
        consts=consts,
        arrays=arrays,
        types={**low.types, "index_t": INDEX},
    )


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """Each output sums one product per contracted element (the `auto` accumulator)."""
    del input_shapes
    return int(weight(node, "kernel").shape[1])


SPEC = OpSpec(
    Op.EINSUM_DENSE,
    shape,
    run_float,
    run_fixed,
    ("weight", "bias", "accum", "result"),
    "EinsumDense",
)


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """I * L0 Dense rows of (C, L1): priced as one Dense of C inputs and I * L0 * L1
    outputs (the same products and adder trees), hls4ml's Latency strategy.
    """
    kernel = weight(node, "kernel")
    i, l0 = (int(v) for v in node.attrs["groups"])
    return [
        DenseCost(
            name=node.name,
            n_in=int(kernel.shape[1]),
            n_out=i * l0 * int(kernel.shape[2]),
            input=ctx.input,
            weight=node.precision.weight or ctx.default,
            bias=node.precision.bias or ctx.default,
            accum=node.precision.accum,
            output=node.precision.result,
            reuse_factor=int(node.attrs.get("reuse_factor", 1)),
            io_type=ctx.io_type,
        )
    ]
