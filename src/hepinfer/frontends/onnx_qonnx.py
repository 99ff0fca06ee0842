"""QONNX quantisers beyond `Quant`: `BipolarQuant`, `IntQuant` and `Trunc`.

- `BipolarQuant(x, scale)`: `x >= 0 ? scale : -scale`. On a constant (binary weights) the
  constant is quantised and recorded as a 2-bit narrow quantiser (the consuming Dense's
  weight type holds +-scale exactly); on activations a BipolarQuant node.
- `IntQuant`: QONNX's newer name of `Quant` (clamping before rounding gives the same values
  since the limits are integers); a 1-bit signed IntQuant is bipolar, as QONNX executes it.
- `Trunc` (v2: x, scale, zeropt, in_bits, out_scale, out_bits, as QONNX 1.0.0 defines and
  executes it, or with an output zero point before `out_bits`): the input on its
  integer grid (`Quant` at `scale`, `in_bits`), then `out_bits` at `out_scale` with the
  rounding mode (FLOOR by default): two Quant nodes, each a cast.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepinfer.errors import FrontendError
from hepinfer.frontends import onnx_nodes
from hepinfer.frontends.onnx_nodes import Converter, OnnxContext
from hepinfer.ir.op import Op


def _scalar(ctx: OnnxContext, node: Any, i: int, what: str) -> float:
    c = ctx.const(node, i)
    if c is None or np.unique(c).size != 1:
        msg = f"{node.op_type} {ctx.name(node)!r}: the {what} must be one constant value"
        raise FrontendError(msg)
    return float(c.reshape(-1)[0])


def bipolar_quant(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """BipolarQuant(x, scale)."""
    del attrs
    scale = _scalar(ctx, node, 1, "scale")
    x = ctx.const(node, 0)
    if x is not None:
        out = str(node.output[0])
        ctx.consts[out] = np.where(x >= 0, scale, -scale)
        q = {"scale": scale, "zeropt": 0.0, "bitwidth": 2, "signed": True, "narrow": True}
        ctx.quant[out] = {**q, "rounding_mode": "ROUND"}
        return
    ir = ctx.builder.add(ctx.name(node), Op.BIPOLAR_QUANT, [ctx.src(node)], {"scale": scale})
    ctx.set(node, ir)


def int_quant(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """IntQuant: Quant, or BipolarQuant at 1 signed bit."""
    bits = ctx.const(node, 3)
    if bits is not None and int(np.max(bits)) == 1 and int(attrs.get("signed", 1)):
        if np.any(ctx.const(node, 2) != 0):
            msg = f"IntQuant {ctx.name(node)!r}: a 1-bit IntQuant needs zero point 0"
            raise FrontendError(msg)
        bipolar_quant(ctx, node, {})
        return
    onnx_nodes.quant(ctx, node, attrs)


def trunc(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Trunc (QONNX v2, six inputs or seven with an output zero point; zero points 0) as two
    Quant nodes.
    """
    if len(node.input) not in (6, 7):
        msg = (
            f"Trunc {ctx.name(node)!r} with {len(node.input)} inputs is not supported; "
            "supported: QONNX Trunc v2 (x, scale, zeropt, in_bits, out_scale, out_bits), "
            "also with an output zero point before out_bits"
        )
        raise FrontendError(msg)
    seven = len(node.input) == 7
    scale = _scalar(ctx, node, 1, "scale")
    in_bits = _scalar(ctx, node, 3, "input bit width")
    out_scale = _scalar(ctx, node, 4, "output scale")
    out_bits = _scalar(ctx, node, 6 if seven else 5, "output bit width")
    out_zero = _scalar(ctx, node, 5, "output zero point") if seven else 0.0
    if _scalar(ctx, node, 2, "zero point") != 0 or out_zero != 0:
        msg = f"Trunc {ctx.name(node)!r}: only zero points 0 are supported"
        raise FrontendError(msg)
    ratio = np.log2(out_scale / scale)
    if ratio != np.round(ratio):
        msg = f"Trunc {ctx.name(node)!r}: output scale {out_scale} / scale {scale} is not a power of two"
        raise FrontendError(msg)
    mode = attrs.get("rounding_mode", b"FLOOR")
    mode = (mode.decode() if isinstance(mode, bytes) else str(mode)).upper()
    if mode not in ("FLOOR", "ROUND"):
        msg = f"Trunc {ctx.name(node)!r}: rounding mode {mode!r} is not supported (FLOOR, ROUND)"
        raise FrontendError(msg)
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    grid: dict[str, Any] = {
        "scale": scale,
        "zeropt": 0.0,
        "bitwidth": int(in_bits),
        "signed": signed,
    }
    grid |= {"narrow": False, "rounding_mode": "ROUND"}
    name = ctx.name(node)
    first = ctx.builder.add(f"{name}_in", Op.QUANT, [ctx.src(node)], grid)
    out: dict[str, Any] = {
        "scale": out_scale,
        "zeropt": 0.0,
        "bitwidth": int(out_bits),
        "signed": signed,
    }
    out |= {"narrow": narrow, "rounding_mode": mode}
    ctx.set(node, ctx.builder.add(name, Op.QUANT, [first], out))


def multithreshold(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """MultiThreshold(x, thresholds (C or 1, steps)): per-channel step activation."""
    thr = ctx.const(node, 1)
    if thr is None or thr.ndim != 2:
        msg = f"MultiThreshold {ctx.name(node)!r}: thresholds must be a constant (C, steps) matrix"
        raise FrontendError(msg)
    layout = attrs.get("data_layout", b"NCHW")
    layout = layout.decode() if isinstance(layout, bytes) else str(layout)
    src = ctx.src(node)
    rank = len(ctx.builder.shape(src))
    out_layout = ctx.layout.get(str(node.input[0]), "ir")
    if rank > 1 and layout == "NCHW" and out_layout == "ir":
        src, out_layout = ctx.channels_last(node), "cl"
    elif rank > 1 and layout == "NHWC" and out_layout == "cl":
        msg = f"MultiThreshold {ctx.name(node)!r}: data_layout NHWC on an NCHW tensor"
        raise FrontendError(msg)
    params = {
        "out_scale": float(attrs.get("out_scale", 1.0)),
        "out_bias": float(attrs.get("out_bias", 0.0)),
    }
    ir = ctx.builder.add(ctx.name(node), Op.MULTITHRESHOLD, [src], params, {"thresholds": thr})
    ctx.set(node, ir, out_layout)


CONVERTERS: dict[str, Converter] = {
    "MultiThreshold": multithreshold,
    "BipolarQuant": bipolar_quant,
    "IntQuant": int_quant,
    "Trunc": trunc,
}
