"""QONNX `Quant` nodes with float (non-power-of-two) scales, as hls4ml 1.3 converts them.

Brevitas' default quantisers (`Int8WeightPerTensorFloat`, `Int8ActPerTensorFloat`, ...)
export one float scale per tensor. hls4ml 1.3 (`quant_opt.py`, `move_scales.py`,
`merge_const.py`) turns such a Quant on activations into three layers: `<quant>_scale`, an
ApplyAlpha multiplying by `1 / scale`; `<quant>_act`, a linear activation into the integer
type `fixed<bits, bits>` (the Quant's rounding and saturation); `<quant>_rescale`, an ApplyAlpha
multiplying by `scale`. On a constant (weights) the values become the integers
`round(w / scale)` in that integer type and the rescale follows. A rescale that feeds a MatMul
moves below it (the weights' first, then the data's on top: data rescale, weight rescale in
that order after the product), and the bias `Add` after it becomes an ApplyAlpha of scale 1
(`uint<1>`) named `bn_<add>`. Every ApplyAlpha is a BatchNormalization here (`x * scale +
bias` in its `scale`/`bias`/`result` types) that takes its configuration from the Quant (the
Add) it came from: hls4ml copies that layer's configuration to them (node attribute
`config_of`).

A zero point, or one scale per channel, on activations takes the same path whatever the
scale (hls4ml's `QuantToAlphaActivationAlpha`): `<quant>_scale` adds `zeropt` after the
`1 / scale`, `<quant>_rescale` adds `-zeropt * scale`, each value per tensor or per channel;
such a rescale (a bias, or a scale per input channel) does not move below a MatMul or Conv
(`move_scales.py` moves only one scale without bias): it is added above it. The float mode of
`<quant>_scale` is QONNX's `x / scale + zeropt` in float32 (attribute `float32_divisor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hepinfer.errors import FrontendError
from hepinfer.ir.op import Op
from hepinfer.ops.quant import _limits

#: the quantiser of hls4ml's `uint<1>` scale of an ApplyAlpha made from an Add
UNIT_SCALE: dict[str, Any] = {
    "scale": 1.0,
    "zeropt": 0.0,
    "bitwidth": 1,
    "signed": False,
    "narrow": False,
    "rounding_mode": "ROUND",
}


@dataclass(frozen=True)
class Rescale:
    """A pending ApplyAlpha `<name>` computing `x * scale + bias` (`scale` a number, one per
    channel, or on weights the scale broadcast to the weight's shape; `bias` hls4ml's
    `-zeropt * scale`, 0 without a zero point), configured as layer `config_of`.
    """

    name: str
    scale: Any
    config_of: str
    bias: Any = 0.0

    def transposed(self, perm: Any) -> Rescale:
        """The rescale of the transposed constant."""
        return Rescale(self.name, np.transpose(np.asarray(self.scale), perm), self.config_of)

    @property
    def movable(self) -> bool:
        """Whether hls4ml 1.3 moves it below a MatMul or Conv (`move_scales.py`): a zero bias
        and one scale. A zero point (a bias) or a scale per input channel stays above it.
        """
        return bool(np.all(np.asarray(self.bias) == 0) and np.unique(self.scale).size == 1)

    def per_output(self, what: str, axis: int) -> Any:
        """The scale per output channel (`axis` of the weight), checked constant elsewhere."""
        s = np.asarray(self.scale, dtype=np.float32)
        if s.ndim == 0:
            return s
        moved = np.moveaxis(s, axis, -1).reshape(-1, s.shape[axis])
        if np.any(moved != moved[:1]):
            msg = (
                f"{what}: the float weight scale of {self.name!r} varies along other axes "
                "than the output channel; supported: one scale per tensor or per output channel"
            )
            raise FrontendError(msg)
        return moved[0]


def integer_quantiser(q: dict[str, Any]) -> dict[str, Any]:
    """The Quant with scale 1 and zero point 0: hls4ml's `fixed<bits, bits>` integer type."""
    return {**q, "scale": 1.0, "zeropt": 0.0}


def apply_alpha(
    ctx: Any,
    name: str,
    src: str,
    scale: Any,
    bias: Any,
    config_of: str,
    quantizer: dict[str, Any] | None = None,
    float32_divisor: tuple[float, ...] | None = None,
) -> str:
    """Add one ApplyAlpha (a BatchNormalization: scale and bias per channel or one); with
    `float32_divisor` (a Quant's scale, `<quant>_scale`) its float mode computes `x / divisor
    + bias` in float32 as QONNX defines the Quant (fixed point: `x * scale + bias`).
    """
    channels = int(ctx.builder.shape(src)[-1])
    attrs: dict[str, Any] = {"config_of": config_of}
    if float32_divisor is not None:
        attrs["float32_divisor"] = float32_divisor
    if quantizer is not None:
        attrs["kernel_quantizer"] = quantizer
    weights = {
        "scale": np.broadcast_to(np.asarray(scale, dtype=np.float64).reshape(-1), (channels,)),
        "bias": np.broadcast_to(np.asarray(bias, dtype=np.float64).reshape(-1), (channels,)),
    }
    ir: str = ctx.builder.add(name, Op.BATCHNORM, [src], attrs, weights)
    ctx.alpha_nodes.add(ir)
    return ir


def _refuse(ctx: Any, node: Any, scale: Any, what: str) -> None:
    msg = (
        f"Quant {ctx.name(node)!r}: scale {np.ravel(scale)[:4]} is not a power of two and "
        f"{what}; supported for float scales: positive scales, one per tensor or one per "
        "channel (Brevitas' *PerTensorFloat quantisers, `scaling_per_output_channel`), on "
        "weights one per output channel (*PerChannelFloat)"
    )
    raise FrontendError(msg)


def per_channel_values(ctx: Any, node: Any, values: Any, what: str) -> Any:
    """A Quant parameter (`what`: scale or zero point) of an activation as one number or one
    per channel of the IR tensor (its last axis): broadcast to the input's ONNX shape (batch
    1) as QONNX broadcasts it, then to the IR layout. hls4ml broadcasts it to the whole tensor
    (an ApplyAlpha of one value per element); hepinfer's ApplyAlpha has one per channel, so a
    parameter varying along another axis is refused.
    """
    a = np.asarray(values, dtype=np.float32)
    if a.size == 1:
        return a.reshape(())
    ir_shape = tuple(int(d) for d in ctx.builder.shape(ctx.tensors[str(node.input[0])]))
    channels_first = ctx.is_cl(node)  # the ONNX tensor is NCHW, the IR one NHWC
    onnx_shape = (1, ir_shape[-1], *ir_shape[:-1]) if channels_first else (1, *ir_shape)
    try:
        full = np.broadcast_to(a, onnx_shape)[0]
    except ValueError:
        msg = (
            f"Quant {ctx.name(node)!r}: the {what} of shape {a.shape} does not broadcast to "
            f"its input's shape {onnx_shape}; give one value per tensor or per channel"
        )
        raise FrontendError(msg) from None
    if channels_first:
        full = np.moveaxis(full, 0, -1)
    rows = full.reshape(-1, ir_shape[-1])
    if np.any(rows != rows[:1]):
        msg = (
            f"Quant {ctx.name(node)!r}: the {what} of shape {a.shape} varies along another "
            f"axis than the channels (the last axis of the input {ir_shape} here); supported: "
            "one value per tensor or one per channel"
        )
        raise FrontendError(msg)
    return rows[0]


def float_scale_quant(ctx: Any, node: Any, q: dict[str, Any], scale: Any, zero: Any) -> None:
    """A Quant of float scales or a zero point (hls4ml's `QuantToAlphaActivationAlpha`,
    `ConstQuantToConstAlpha`): weights as integers with a pending rescale (zero point 0:
    the caller refuses others), activations as `_scale` (x `1 / scale` + `zeropt`) -> `_act`
    -> (pending) `_rescale` (x `scale` - `zeropt * scale`), each parameter one value or one
    per channel, in float32 as hls4ml computes them.
    """
    scale = np.asarray(scale, dtype=np.float32)
    if np.any(scale <= 0):
        _refuse(ctx, node, scale, "not positive")
    name, out = ctx.name(node), str(node.output[0])
    integer = integer_quantiser(q)
    x = ctx.const(node, 0)
    if x is not None:
        try:
            full = np.broadcast_to(scale, np.shape(x))
        except ValueError:
            _refuse(ctx, node, scale, f"does not broadcast to the constant's shape {np.shape(x)}")
        # hls4ml: value / scale in float32, rounded into fixed<bits, bits> (its quantiser)
        ratio = np.asarray(x, dtype=np.float32) / full
        lo, hi = _limits(q)
        mode = str(q.get("rounding_mode", "ROUND")).upper()
        rounded = np.floor(ratio) if mode == "FLOOR" else np.round(ratio)
        ctx.consts[out] = np.clip(rounded, lo, hi).astype(np.float64)
        ctx.quant[out] = integer
        one = np.unique(scale).size == 1
        ctx.const_alpha[out] = Rescale(f"{name}_rescale", scale.ravel()[0] if one else full, name)
        return
    s = per_channel_values(ctx, node, scale, "scale")
    z = per_channel_values(ctx, node, zero, "zero point")
    inverse = np.float32(1.0) / s  # hls4ml's 1 / scale, in float32
    # float mode: `x / scale + zeropt` in float32, QONNX's and Brevitas' arithmetic
    divisor = tuple(float(v) for v in np.ravel(s))
    scaled = apply_alpha(ctx, f"{name}_scale", ctx.src(node), inverse, z, name, None, divisor)
    act = ctx.builder.add(f"{name}_act", Op.QUANT, [scaled], integer)
    ctx.set(node, act)
    ctx.pending[out] = [Rescale(f"{name}_rescale", s, name, -z * s)]  # float32, as hls4ml


def conv_rescale(
    ctx: Any, ir: str, data: list[Rescale], weight: Rescale | None, bias: Any | None
) -> str:
    """hls4ml's `ScaleDownConv`: the data's and the weights' rescales after a convolution as
    one ApplyAlpha (named as the weights' rescale when there is one) of scale `s = s_data *
    s_weight` and bias `b * (1 - s)` (the convolution keeps its bias `b`), in float32.
    """
    if len(data) > 1:
        msg = f"convolution {ir!r}: more than one float-scale rescale on its input"
        raise FrontendError(msg)
    first = data[0] if data else None
    scale: Any = np.float32(1.0)
    if first is not None:
        scale = np.float32(first.scale)
    if weight is not None:  # (F, C, *k): one scale per filter, or one
        scale = np.asarray(scale * weight.per_output(f"convolution {ir!r}", 0), np.float32)
    named = weight if weight is not None else first
    assert named is not None
    b = np.zeros(1, np.float32) if bias is None else np.asarray(bias, np.float32)
    shift = b * (np.float32(1.0) - scale)
    return apply_alpha(ctx, named.name, ir, scale, shift, named.config_of)
