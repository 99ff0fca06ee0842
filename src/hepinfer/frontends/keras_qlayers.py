"""Converters of QKeras layers and of the binary/ternary Keras layers (by class name).

Quantised weights keep their values (`hepinfer.frontends.qkeras.quantize_weights`, as QKeras
computes them) and get the quantiser's type through the `kernel_quantizer` /
`bias_quantizer` attributes; a per-channel power-of-two scale (`alpha='auto_po2'`) becomes a
node `<layer>_alpha` after the layer that multiplies by it and adds the bias (as hls4ml's
`ApplyAlpha`). Activation quantisers become the activation with its result type (a
`quantizer` attribute): `quantized_bits` and `quantized_tanh` a cast (hard tanh saturates
where the type does), `quantized_relu` ReLU or LeakyReLU, `quantized_sigmoid` hls4ml's hard
sigmoid (slope 0.5, shift 0.5), `binary` a BipolarQuant (`x >= 0 ? +alpha : -alpha`, hls4ml's
`binary_tanh`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepinfer.errors import FrontendError
from hepinfer.frontends import keras_layers as kl
from hepinfer.frontends import qkeras
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.frontends.keras_layers import Converter, FloatArray, LayerInfo
from hepinfer.ir.op import Op


def activation_node(b: GraphBuilder, name: str, layer: str, spec: Any, source: str) -> str:
    """An activation quantiser (object or string) as its activation node with its type."""
    q = qkeras.parse(layer, spec)
    if q.name == "binary":
        return b.add(name, Op.BIPOLAR_QUANT, [source], {"scale": qkeras.binary_scale(q)})
    quantizer = qkeras.activation_quantizer(q)
    if q.name == "quantized_relu" and float(q.get("negative_slope")) != 0.0:
        attrs = {"alpha": float(q.get("negative_slope")), "quantizer": quantizer}
        return b.add(name, Op.LEAKY_RELU, [source], attrs)
    if q.name == "quantized_relu":
        return b.add(name, Op.RELU, [source], {"quantizer": quantizer})
    if q.name == "quantized_sigmoid":
        attrs = {"slope": 0.5, "shift": 0.5, "quantizer": quantizer}
        return b.add(name, Op.HARD_SIGMOID, [source], attrs)
    return b.add(name, Op.LINEAR, [source], {"quantizer": quantizer})


def qactivation(b: GraphBuilder, layer: LayerInfo) -> str:
    act = layer.config["activation"]
    if qkeras.is_quantizer(act):
        return activation_node(b, layer.name, layer.name, act, layer.sources[0])
    name = str(act.get("class_name", "")) if isinstance(act, dict) else str(act)
    return b.activation(layer.name, name, layer.sources[0])


def split_activation(b: GraphBuilder, layer: LayerInfo, out: str) -> str | None:
    """A Q layer's own `activation` given as a quantiser: its node `<layer>_<quantiser>`
    (hls4ml's name); None when the activation is not a quantiser.
    """
    act = layer.config.get("activation")
    if not qkeras.is_quantizer(act):
        return None
    q = qkeras.parse(layer.name, act)
    return activation_node(b, f"{layer.name}_{q.name}", layer.name, act, out)


def _quantised(
    layer: LayerInfo, key: str, w: FloatArray
) -> tuple[FloatArray, dict[str, Any] | None, FloatArray | None]:
    """Weights through the layer's `key` quantiser: values, type dict, po2 channel scale."""
    spec = layer.config.get(key)
    if not spec:
        return w, None, None
    q = qkeras.parse(layer.name, spec)
    values, scale = qkeras.quantize_weights(q, w)
    qtype = qkeras.weight_quantizer(q) or qkeras.exact_type(values)
    return values, qtype, scale


def _weighted(
    b: GraphBuilder, layer: LayerInfo, kernel_index: int, kernel_key: str, build: Converter
) -> str:
    """Quantise kernel and bias, build the float layer with `build`, set the types and add
    the `<layer>_alpha` scaling node for a power-of-two channel scale.
    """
    weights = [np.asarray(w) for w in layer.weights]
    kernel, ktype, scale = _quantised(layer, kernel_key, layer.weight(kernel_index, "kernel"))
    weights[kernel_index] = kernel
    has_bias = layer.config.get("use_bias", True)
    bias: FloatArray | None = None
    btype = None
    if has_bias:
        bias, btype, bscale = _quantised(
            layer, "bias_quantizer", layer.weight(kernel_index + 1, "bias")
        )
        if bscale is not None:
            msg = f"QKeras layer {layer.name!r}: an 'auto_po2' bias quantiser is not supported; use alpha=1"
            raise FrontendError(msg)
        weights[kernel_index + 1] = np.zeros_like(bias) if scale is not None else bias
    plain = {k: v for k, v in layer.config.items() if not k.endswith("_quantizer")}
    info = LayerInfo(layer.name, layer.cls, plain, layer.sources, weights)
    out = build(b, info)
    node = b.node(out)
    attrs = dict(node.attrs)
    if ktype is not None:
        attrs["kernel_quantizer"] = ktype
    if btype is not None and scale is None:
        attrs["bias_quantizer"] = btype
    b.replace(node.replace(attrs=attrs))
    if scale is None:
        return out
    channels = b.shape(out)[-1]
    per_channel = np.broadcast_to(np.asarray(scale, dtype=np.float64).ravel(), (channels,))
    shift = np.zeros(channels) if bias is None else np.asarray(bias, dtype=np.float64)
    alpha_attrs: dict[str, Any] = {"kernel_quantizer": qkeras.exact_type(per_channel)}
    if btype is not None:
        alpha_attrs["bias_quantizer"] = btype
    return b.add(
        f"{layer.name}_alpha",
        Op.BATCHNORM,
        [out],
        alpha_attrs,
        {"scale": np.array(per_channel), "bias": shift},
    )


def qdense(b: GraphBuilder, layer: LayerInfo) -> str:
    return _weighted(b, layer, 0, "kernel_quantizer", kl.dense)


def qconv(b: GraphBuilder, layer: LayerInfo) -> str:
    return _weighted(b, layer, 0, "kernel_quantizer", kl.conv)


def _channel_axis(layer: LayerInfo) -> None:
    axis = layer.config.get("axis", -1)
    axes = [int(a) for a in axis] if isinstance(axis, list | tuple) else [int(axis)]
    if axes not in ([-1], [3]):
        msg = (
            f"QKeras layer {layer.name!r} of type {layer.cls!r}: batch normalisation axis "
            f"{axis!r} is not supported (hls4ml 1.3 folds it into the output channels); use "
            "axis=-1 (channels_last)"
        )
        raise FrontendError(msg)


def qconv_batchnorm(b: GraphBuilder, layer: LayerInfo) -> str:
    """QConv2DBatchnorm as hls4ml 1.3's `Conv2DBatchnorm` computes it: the moving statistics
    folded into kernel and bias in float32 (`inv = gamma / sqrt(variance + epsilon)`,
    `kernel * inv`, `inv * (bias - mean) + beta`; QKeras folds the same way at inference),
    then the folded values through `kernel_quantizer` / `bias_quantizer`, as a QConv2D.
    """
    cfg = layer.config
    _channel_axis(layer)
    use_bias = bool(cfg.get("use_bias", True))
    kernel = np.asarray(layer.weight(0, "kernel"), dtype=np.float32)
    bias = np.asarray(layer.weight(1, "bias"), dtype=np.float32) if use_bias else np.float32(0.0)
    # after the convolution's weights: gamma, beta (when scale/center), QKeras's scalar
    # `iteration` counter, moving mean and variance
    stats = [np.asarray(w, dtype=np.float32) for w in layer.weights[1 + use_bias :] if np.ndim(w)]
    scale, center = bool(cfg.get("scale", True)), bool(cfg.get("center", True))
    if len(stats) != 2 + scale + center:
        msg = (
            f"QKeras layer {layer.name!r} ({layer.cls}) has {len(stats)} batch normalisation "
            f"weights in the weights file, expected {2 + scale + center} (gamma, beta, "
            "moving_mean, moving_variance as scale/center say)"
        )
        raise FrontendError(msg)
    gamma = stats[0] if scale else None
    beta = stats[int(scale)] if center else None
    mean, variance = stats[-2], stats[-1]
    inv = np.reciprocal(np.sqrt(variance + np.float32(cfg.get("epsilon", 0.001))))
    if gamma is not None:
        inv = inv * gamma
    folded_bias = inv * (bias - mean)
    if beta is not None:
        folded_bias = folded_bias + beta
    conv_keys = {"axis", "momentum", "epsilon", "center", "scale", "folding_mode"}
    plain = {k: v for k, v in cfg.items() if k not in conv_keys} | {"use_bias": True}
    folded = [(inv * kernel).astype(np.float32), np.asarray(folded_bias, dtype=np.float32)]
    info = LayerInfo(layer.name, "QConv2D", plain, layer.sources, folded)
    return _weighted(b, info, 0, "kernel_quantizer", kl.conv)


def qdepthwise(b: GraphBuilder, layer: LayerInfo) -> str:
    return _weighted(b, layer, 0, "depthwise_quantizer", kl.depthwise)


def qseparable(b: GraphBuilder, layer: LayerInfo) -> str:
    """QSeparableConv1D/2D: depthwise kernel, pointwise kernel and bias through their
    quantisers, then the Keras separable convolution (`<layer>_depthwise` without bias,
    `<layer>_pointwise` with it, as hls4ml 1.3 splits it), each part typed by its quantiser.
    """
    weights = [np.asarray(w) for w in layer.weights]
    roles = [
        (0, "depthwise_quantizer", "depthwise_kernel"),
        (1, "pointwise_quantizer", "pointwise_kernel"),
    ]
    if layer.config.get("use_bias", True):
        roles.append((2, "bias_quantizer", "bias"))
    types: dict[str, dict[str, Any] | None] = {}
    for index, key, what in roles:
        values, qtype, scale = _quantised(layer, key, layer.weight(index, what))
        if scale is not None:
            msg = (
                f"QKeras layer {layer.name!r} ({layer.cls}): {key} with alpha='auto_po2' is not "
                "supported (a per-channel scale inside a separable convolution); use alpha=1"
            )
            raise FrontendError(msg)
        weights[index], types[key] = values, qtype
    plain = {k: v for k, v in layer.config.items() if not k.endswith("_quantizer")}
    out = kl.separable(b, LayerInfo(layer.name, layer.cls, plain, layer.sources, weights))
    parts = {
        f"{layer.name}_depthwise": {"kernel_quantizer": types["depthwise_quantizer"]},
        out: {
            "kernel_quantizer": types["pointwise_quantizer"],
            "bias_quantizer": types.get("bias_quantizer"),
        },
    }
    for name, extra in parts.items():
        node = b.node(name)
        given = {k: v for k, v in extra.items() if v is not None}
        b.replace(node.replace(attrs={**node.attrs, **given}))
    return out


def qbatchnorm(b: GraphBuilder, layer: LayerInfo) -> str:
    """QBatchNormalization: gamma, beta, mean and variance through their quantisers (as
    QKeras computes at inference; `alpha=None` of gamma/variance becomes 'auto_po2', as
    QKeras's constructor sets it), then folded like BatchNormalization.
    """
    cfg = layer.config
    keys = []
    if cfg.get("scale", True):
        keys.append("gamma_quantizer")
    if cfg.get("center", True):
        keys.append("beta_quantizer")
    keys += ["mean_quantizer", "variance_quantizer"]
    weights = [np.asarray(w) for w in layer.weights]
    for i, key in enumerate(keys):
        spec = cfg.get(key)
        if not spec or i >= len(weights):
            continue
        q = qkeras.parse(layer.name, spec)
        trainable = key in ("gamma_quantizer", "variance_quantizer")
        if (
            trainable
            and q.name in ("quantized_bits", "binary", "ternary")
            and q.get("alpha") is None
        ):
            extra = {"symmetric": True} if q.name == "quantized_bits" else {}
            q = qkeras.QKerasQuantizer(
                q.name, tuple({**dict(q.args), "alpha": "auto_po2", **extra}.items()), q.layer
            )
        values, scale = qkeras.quantize_weights(q, weights[i])
        weights[i] = values if scale is None else values * scale.ravel()
    info = LayerInfo(layer.name, layer.cls, cfg, layer.sources, weights)
    return kl.batchnorm(b, info)


def _refuse_recurrent(layer: LayerInfo, what: str, why: str, supported: str) -> FrontendError:
    msg = f"QKeras layer {layer.name!r} of type {layer.cls!r}: {what} is not supported ({why}); {supported}"
    return FrontendError(msg)


def _recurrent_quantizer(layer: LayerInfo) -> None:
    """QGRU needs a `recurrent_quantizer`: QKeras 0.9.0's QGRU without one multiplies the
    state by the input kernel.
    """
    if layer.cls == "QGRU" and not layer.config.get("recurrent_quantizer"):
        raise _refuse_recurrent(
            layer,
            "recurrent_quantizer=None",
            "QKeras 0.9.0's QGRU then multiplies the state by the input kernel",
            "set recurrent_quantizer",
        )


def qrecurrent(b: GraphBuilder, layer: LayerInfo) -> str:
    """QSimpleRNN, QLSTM, QGRU: kernel, recurrent kernel and bias (both GRU bias rows)
    through their quantisers as QKeras 0.9.0 applies them (once per call, on the weights),
    then the Keras recurrent layer typed by them: `kernel_quantizer` gives the `weight`
    type, `recurrent_quantizer` the `recurrent_weight` type (hls4ml's `recurrent_weight_t`),
    `bias_quantizer` the `bias` and `recurrent_bias` types. The quantisers QKeras applies inside each
    step are refused: `state_quantizer` (QKeras rounds the states before every step, hls4ml
    1.3 makes its type the accumulator) and activation quantisers (QKeras applies them as
    the activation, hls4ml 1.3 makes them the result type of a float activation).
    """
    cfg = layer.config
    if cfg.get("state_quantizer"):
        raise _refuse_recurrent(
            layer,
            f"state_quantizer {cfg['state_quantizer']!r}",
            "QKeras rounds the states before every step, hls4ml 1.3 makes its type the "
            "accumulator: neither is a type of hepinfer's recurrent datapath",
            "use state_quantizer=None and set the layer's result/accum precision",
        )
    for key in ("activation", "recurrent_activation"):
        if qkeras.is_quantizer(cfg.get(key)):
            raise _refuse_recurrent(
                layer,
                f"{key} {cfg[key]!r}",
                "QKeras applies the quantiser inside every step, hls4ml 1.3 reads it as the "
                "result type of a float activation",
                f"give {key} as 'tanh', 'sigmoid' or 'relu' (the result type comes from the "
                "configuration)",
            )
    _recurrent_quantizer(layer)
    weights = [np.asarray(w) for w in layer.weights]
    roles = [(0, "kernel_quantizer", "kernel"), (1, "recurrent_quantizer", "recurrent_kernel")]
    if cfg.get("use_bias", True):
        roles.append((2, "bias_quantizer", "bias"))
    types: dict[str, dict[str, Any] | None] = {}
    for index, key, what in roles:
        values, qtype, scale = _quantised(layer, key, layer.weight(index, what))
        if scale is not None:
            raise _refuse_recurrent(
                layer,
                f"{key} with alpha='auto_po2'",
                "a per-channel scale inside the recurrence is not a type",
                "use alpha=1",
            )
        weights[index], types[key] = values, qtype
    for index, key in ((0, "kernel_quantizer"), (1, "recurrent_quantizer")):
        if cfg.get(key) and types[key] is None:
            # values-typed quantisers (po2, binary, ternary): the type of the values
            types[key] = qkeras.exact_type(weights[index])
    plain = {k: v for k, v in cfg.items() if not k.endswith("_quantizer")}
    info = LayerInfo(layer.name, layer.cls[1:], plain, layer.sources, weights)
    out = kl.recurrent(b, info)
    node = b.node(out)
    attrs = dict(node.attrs)
    # QKeras applies bias_quantizer to both bias rows (QGRU's recurrent bias too)
    for attr, key in (
        ("kernel_quantizer", "kernel_quantizer"),
        ("recurrent_quantizer", "recurrent_quantizer"),
        ("bias_quantizer", "bias_quantizer"),
        ("recurrent_bias_quantizer", "bias_quantizer"),
    ):
        if types.get(key) is not None:
            attrs[attr] = types[key]
    b.replace(node.replace(attrs=attrs))
    return out


def _binary_ternary(kind: str) -> Converter:
    """hls4ml's BinaryDense / TernaryDense (read by class name, the class is not needed):
    kernel and bias binarised (`>= 0` -> 1, else -1) or ternarised (`> 0.5` -> 1,
    `<= -0.5` -> -1, else 0) as hls4ml's Binary/TernaryQuantizer do, in a 2-bit type.
    """

    def convert(b: GraphBuilder, layer: LayerInfo) -> str:
        weights: list[FloatArray] = [np.asarray(w, dtype=np.float64) for w in layer.weights]
        for i in range(min(2, len(weights))):
            w = weights[i]
            if kind == "binary":
                weights[i] = np.where(w >= 0, 1.0, -1.0)
            else:
                weights[i] = np.where(w > 0.5, 1.0, np.where(w <= -0.5, -1.0, 0.0))
        info = LayerInfo(layer.name, layer.cls, layer.config, layer.sources, weights)
        out = kl.dense(b, info)
        node = b.node(out)
        two_bit = qkeras.exact_type([-1.0, 1.0])
        attrs = {**node.attrs, "kernel_quantizer": two_bit, "bias_quantizer": two_bit}
        b.replace(node.replace(attrs=attrs))
        return out

    return convert


QKERAS_CONVERTERS: dict[str, Converter] = {
    "QDense": qdense,
    "QConv1D": qconv,
    "QConv2D": qconv,
    "QConv2DBatchnorm": qconv_batchnorm,
    "QDepthwiseConv2D": qdepthwise,
    "QSeparableConv1D": qseparable,
    "QSeparableConv2D": qseparable,
    "QBatchNormalization": qbatchnorm,
    "QSimpleRNN": qrecurrent,
    "QLSTM": qrecurrent,
    "QGRU": qrecurrent,
    "QActivation": qactivation,
    "BinaryDense": _binary_ternary("binary"),
    "TernaryDense": _binary_ternary("ternary"),
}

#: QKeras layers that are not converted, with the reason (their error names layer and type)
QKERAS_REFUSED: dict[str, str] = {}

#: QKeras recurrent layers: their `activation` is part of the layer, not split off
QKERAS_RECURRENT = ("QSimpleRNN", "QLSTM", "QGRU")

__all__ = [
    "QKERAS_CONVERTERS",
    "QKERAS_RECURRENT",
    "QKERAS_REFUSED",
    "activation_node",
    "split_activation",
]
