"""QONNX `Quant`: uniform quantisation `clip(round(x / scale) + zeropt) * scale`.

In fixed point a power-of-two scale is exactly a fixed-point type: `bitwidth` bits with
`log2(scale)` as the weight of the lowest bit; the kernel casts to that type with the
rounding mode (`ROUND`: half to even -> RND_CONV; `FLOOR` -> TRN) and saturation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.netlist import Netlist, Val, arith
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, same_shape
from hepinfer.ops.bounds import Bounds, Interval, cast, one
from hepinfer.ops.cost import ActivationCost, LayerCost, NodeContext
from hepinfer.ops.lowering import Lowering, inputs_count, sizes

_ROUNDING = {"ROUND": Quant.RND_CONV, "FLOOR": Quant.TRN, "ROUND_TO_ZERO": Quant.TRN_ZERO}


def _limits(q: Mapping[str, Any]) -> tuple[float, float]:
    bits, signed, narrow = int(q["bitwidth"]), bool(q["signed"]), bool(q["narrow"])
    if signed:
        lo, hi = -(2.0 ** (bits - 1)) + (1 if narrow else 0), 2.0 ** (bits - 1) - 1
    else:
        lo, hi = 0.0, 2.0**bits - 1 - (1 if narrow else 0)
    return lo, hi


def quantize_float(x: FloatArray, q: Mapping[str, Any]) -> FloatArray:
    """The QONNX reference semantics in float64 (`scale` a number, or an array that
    broadcasts to `x`: one scale per channel).
    """
    scale, zero = np.asarray(q["scale"], dtype=np.float64), float(q["zeropt"])
    mode = str(q.get("rounding_mode", "ROUND")).upper()
    y = np.asarray(x, dtype=np.float64) / scale + zero
    if mode == "ROUND":
        r = np.round(y)
    elif mode == "FLOOR":
        r = np.floor(y)
    elif mode == "CEIL":
        r = np.ceil(y)
    else:
        r = np.trunc(y)
    lo, hi = _limits(q)
    out: FloatArray = (np.clip(r, lo, hi) - zero) * scale
    return out


def fixed_type(q: Mapping[str, Any]) -> FixedType:
    """The fixed-point type equal to this quantiser (power-of-two scale, zero point 0)."""
    scale = float(q["scale"])
    exp = math.log2(scale)
    if exp != round(exp) or float(q["zeropt"]) != 0:
        msg = (
            f"Quant with scale {scale} and zero point {q['zeropt']} has no fixed-point "
            "equivalent; only power-of-two scales with zero point 0 are supported"
        )
        raise GraphError(msg)
    bits, signed = int(q["bitwidth"]), bool(q["signed"])
    frac = -round(exp)
    mode = _ROUNDING.get(str(q.get("rounding_mode", "ROUND")).upper(), Quant.RND_CONV)
    overflow = Overflow.SAT_SYM if q.get("narrow") and signed else Overflow.SAT
    return FixedType(bits, bits - frac, signed, mode, overflow)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    return quantize_float(xs[0], node.attrs)


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    return xs[0].cast(fixed_type(node.attrs))


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The quantiser's own type (`fixed_type`); Quant has no configured types."""
    n_inputs(node, inputs, 1)
    return fixed_type(node.attrs), node.precision


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """The input's bounds cast to the quantiser's type (rounding, saturation)."""
    return cast(fixed_type(node.attrs), one(node, inputs))


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`linear`: the input assigned to the quantiser's type (the output's)."""
    inputs_count(node, inputs, 1, "HLS")
    return Lowering("linear", sizes(node, inputs), same_width=True)


SPEC = OpSpec(Op.QUANT, same_shape, run_float, run_fixed, (), "Quant")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A Quant on activations is a cast to its type (`fixed_type`): a linear activation."""
    return [
        ActivationCost(
            name=node.name,
            kind="linear",
            n=costing.size(node),
            n_chan=int(node.out.shape[-1]),
            input=ctx.input,
            output=fixed_type(node.attrs),
            io_type=ctx.io_type,
        )
    ]


def rtl(
    node: Node, net: Netlist, xs: Sequence[Sequence[Val]], inputs: Sequence[TensorType]
) -> list[Val]:
    """The input cast to the quantiser's type (`fixed_type`)."""
    del inputs
    t = fixed_type(node.attrs)
    return [arith.cast(net, v, t) for v in xs[0]]
