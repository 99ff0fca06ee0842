"""Einsum of two computed tensors (PyTorch's `torch.einsum`), as hls4ml 1.3 computes it
(`nnet_einsum.h`).

hls4ml plans the equation (batch axis stripped) with `parse_einsum`, the plan of EinsumDense
(`hepinfer.ops.einsum_dense.recipe`, the second operand in the kernel's place): operand 0 is
transposed to (I, L0, C), operand 1 to (I, L1, C) (axes in both operands and the output,
axes of one operand only, contracted axes); each of the I * L0 * L1 outputs starts from 0 in
`accum_t` and adds the C full-precision products one by one (`accum += a * b`, a cast to
`accum_t` per addition), is assigned to `result_t`, and the (I, L0, L1) result is transposed to
the output's axes. Copies keep their types.

Attrs: `equation`, `perm0` / `perm1` (operand axes -> (I, L0|L1, C) order), `groups`
(I, L0, L1, C), `out_interpret` (the (I.., L0.., L1..) shape), `out_perm` (its axes -> the
output's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType, Overflow
from hepinfer.fixed.array import FxArray, wide_type
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types
from hepinfer.ops.bounds import Bounds, Interval, accumulated, two
from hepinfer.ops.cost import DenseCost, LayerCost, NodeContext
from hepinfer.ops.einsum_dense import INDEX, recipe
from hepinfer.ops.lowering import HlsArray, Lowering, inputs_count


def strip_batch(equation: str) -> str:
    """`equation` (of two operands, as a framework writes it) without the batch axis, which
    every operand and the output must have as their first subscript and nowhere else
    (GraphError naming what is supported otherwise). Used by every frontend that reads an
    einsum (torch, ONNX, HGQ2).
    """
    eq = equation.replace(" ", "")
    ins, _, out = eq.partition("->")
    parts = ins.split(",")
    batch = eq[:1]
    rest = "".join(p[1:] for p in parts) + out[1:]
    if (
        len(parts) != 2
        or "." in eq
        or not out
        or any(p[:1] != batch for p in (*parts, out))
        or batch in rest
    ):
        msg = (
            f"equation {equation!r} is not supported; supported (as hls4ml 1.3's Einsum): two "
            "operands, an explicit output ('->'), no '...', and the batch axis as the first "
            "subscript of both operands and of the output (and nowhere else)"
        )
        raise GraphError(msg)
    return f"{parts[0][1:]},{parts[1][1:]}->{out[1:]}"


def node_attrs(equation: str, shape0: tuple[int, ...], shape1: tuple[int, ...]) -> dict[str, Any]:
    """The attrs of an Einsum node for `equation` (batch axis stripped) on operands of shapes
    `shape0`, `shape1` (GraphError for equations hls4ml 1.3 does not plan).
    """
    try:
        r = recipe(equation, shape0, shape1)
    except GraphError as exc:
        msg = f"Einsum of operands of shapes {shape0} and {shape1}: {exc}".replace(
            "EinsumDense equation", "equation"
        )
        raise GraphError(msg) from None
    return {
        "equation": equation,
        "perm0": r.in_perm,
        "perm1": r.kernel_perm,
        "groups": (r.inplace, r.free_data, r.free_kernel, r.contract),
        "out_interpret": r.out_interpret,
        "out_perm": r.out_perm,
    }


def _groups(node: Node) -> tuple[int, int, int, int]:
    i, l0, l1, c = (int(v) for v in node.attrs["groups"])
    return i, l0, l1, c


def _out_shape(node: Node) -> tuple[int, ...]:
    inter = tuple(int(v) for v in node.attrs["out_interpret"])
    return tuple(inter[int(i)] for i in node.attrs["out_perm"])


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 2)
    i, l0, l1, c = _groups(node)
    if inputs[0].size != i * l0 * c or inputs[1].size != i * l1 * c:
        msg = (
            f"Einsum {node.name!r} ({node.attrs.get('equation')!r}): inputs of shapes "
            f"{inputs[0].shape} and {inputs[1].shape} do not fit its plan (I, L0, L1, C) = "
            f"{(i, l0, l1, c)}"
        )
        raise GraphError(msg)
    return _out_shape(node)


def _operand(node: Node, x: np.ndarray, which: int) -> np.ndarray:
    """Operand `which` (batch, *shape) -> (batch, I, L, C)."""
    perm = (0, *(1 + int(p) for p in node.attrs[f"perm{which}"]))
    i, l0, l1, c = _groups(node)
    return x.transpose(perm).reshape(x.shape[0], i, (l0, l1)[which], c)


def _back(node: Node, y: np.ndarray) -> np.ndarray:
    """Y (batch, I, L0, L1) -> (batch, *output)."""
    inter = tuple(int(v) for v in node.attrs["out_interpret"])
    perm = (0, *(1 + int(p) for p in node.attrs["out_perm"]))
    return y.reshape(y.shape[0], *inter).transpose(perm)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    a, b = _operand(node, xs[0], 0), _operand(node, xs[1], 1)
    out: FloatArray = _back(node, np.einsum("bilc,bijc->bilj", a, b))
    return out


def _reduce(total: np.ndarray, shift: int, overflow: Overflow) -> np.ndarray:
    """Exact Python-int sums (frac `f`) as int64 with frac `f - shift + 2` that every cast to
    frac `f - shift` treats alike: the same floor (modulo 2**58 keeping the sign under WRAP,
    clamped to +-2**58 when saturating), sign, and remainder class (0, below, at or above half).
    """
    q = total >> shift
    r = total - (q << shift)
    half = 1 << (shift - 1)
    code = (r > 0).astype(np.int64) + (r >= half).astype(np.int64) + (r > half).astype(np.int64)
    span = 1 << 58
    if overflow is Overflow.WRAP:
        q = np.where(q < 0, q % span - span, q % span)
    else:
        q = np.clip(q, -span, span)
    out: np.ndarray = np.asarray(q, dtype=np.int64) * 4 + code
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x0, x1 = xs
    ta, tr = need(node, "accum"), need(node, "result")
    # the product's exact type (ap_fixed's a * b) may be wider than FixedType allows
    p_width, p_frac = x0.t.width + x1.t.width, x0.t.frac + x1.t.frac
    a, b = _operand(node, x0.m, 0), _operand(node, x1.m, 1)
    frac = max(p_frac, ta.frac)
    exact = max(ta.width + frac - ta.frac, p_width + frac - p_frac) + 1 <= 62
    if not exact and (ta.width > 56 or frac == ta.frac):
        msg = (
            f"Einsum {node.name!r}: products of {x0.t} and {x1.t} into accum {ta} need more "
            "than 64 bits; narrow the inputs or the accumulator"
        )
        raise GraphError(msg)
    if not exact:  # products wider than int64: exact Python ints, reduced before each cast
        a, b = a.astype(object), b.astype(object)
    acc = np.zeros((a.shape[0], a.shape[1], a.shape[2], b.shape[2]), dtype=np.int64)
    for k in range(a.shape[3]):  # accum += a * b, one cast to accum_t per addition
        prod = a[:, :, :, None, k] * b[:, :, None, :, k]
        if exact:
            total = (acc << (frac - ta.frac)) + (prod << (frac - p_frac))
            acc = ta.cast_mantissa(total, wide_type(frac))
        else:
            total = (acc.astype(object) << (frac - ta.frac)) + (prod << (frac - p_frac))
            reduced = _reduce(total, frac - ta.frac, ta.overflow)
            acc = ta.cast_mantissa(reduced, wide_type(ta.frac + 2))
    return FxArray(np.ascontiguousarray(_back(node, tr.cast_mantissa(acc, ta))), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured accum, result."""
    del inputs
    return result_types(node, ("accum", "result"))


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per output, the sum of its products' bounds (the four corners), summed in `accum_t`."""
    (alo, ahi), (blo, bhi) = two(node, inputs)
    a = [_operand(node, v[None], 0)[0][:, :, None, :] for v in (alo, ahi)]
    b = [_operand(node, v[None], 1)[0][:, None, :, :] for v in (blo, bhi)]
    corners = np.stack([a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]])
    lo, hi = corners.min(axis=0).sum(axis=-1), corners.max(axis=0).sum(axis=-1)
    lo, hi = accumulated(lo, hi, _groups(node)[3], node.precision.accum)
    return _back(node, lo[None])[0], _back(node, hi[None])[0]


def accumulated_terms(node: Node, input_shapes: Sequence[tuple[int, ...]]) -> int:
    """Each output sums one product per contracted element (the `auto` accumulator)."""
    del input_shapes
    return _groups(node)[3]


#: its accumulator sums products of its two inputs: an `auto` accum grows by both input types
ACCUMULATES_PRODUCTS = True


def _positions(node: Node, shapes: Sequence[tuple[int, ...]]) -> tuple[np.ndarray, ...]:
    """(gather0, gather1, scatter): the operand element of each (I, L, C) position, and the
    (I, L0, L1) position of each output element (hls4ml's three transposes as index arrays).
    """
    gathers = [
        _operand(node, np.arange(math.prod(s)).reshape(1, *s), w).reshape(-1)
        for w, s in enumerate(shapes)
    ]
    i, l0, l1, _ = _groups(node)
    # output element k is the (I, L0, L1) position scatter[k]
    scatter = _back(node, np.arange(i * l0 * l1).reshape(1, i, l0, l1)).reshape(-1)
    return gathers[0], gathers[1], scatter


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`einsum`: gather both operands, I * L0 * L1 sums of C products in `accum_t`, scatter
    the results to the output's order (Latency, as hls4ml 1.3).
    """
    inputs_count(node, inputs, 2, "HLS")
    g0, g1, scatter = _positions(node, [t.shape for t in inputs])
    if max(g0.size, g1.size, scatter.size) > 1 << 16:
        msg = f"Einsum {node.name!r}: more than 65,536 values has no HLS kernel"
        raise GraphError(msg)
    i, l0, l1, c = _groups(node)
    consts = {
        "n_in": str(inputs[0].size),
        "n_out": str(node.out.size),
        "n_in1": str(inputs[1].size),
        "n_inplace": str(i),
        "n_free0": str(l0),
        "n_free1": str(l1),
        "n_contract": str(c),
    }
    arrays = (
        HlsArray("g", "index", INDEX, g0.astype(np.int64)),
        HlsArray("h", "index", INDEX, g1.astype(np.int64)),
        HlsArray("s", "index", INDEX, scatter.astype(np.int64)),
    )
    types = {"accum_t": need(node, "accum"), "index_t": INDEX}
    return Lowering("einsum", consts, types, arrays)


SPEC = OpSpec(Op.EINSUM, shape, run_float, run_fixed, ("accum", "result"), "Einsum")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """I * L0 * L1 sums of C products of two computed inputs: a Dense of C inputs and
    I * L0 * L1 outputs whose weights are the second operand (general multipliers).
    """
    i, l0, l1, c = _groups(node)
    return [
        DenseCost(
            name=node.name,
            n_in=c,
            n_out=i * l0 * l1,
            input=ctx.input_types[0],
            weight=ctx.input_types[-1],
            accum=node.precision.accum,
            output=node.precision.result,
            reuse_factor=costing.reuse_factor(node),
            io_type=ctx.io_type,
        )
    ]
