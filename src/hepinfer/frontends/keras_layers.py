"""Per-layer-type converters of the Keras frontend (one function per Keras class)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FrontendError, GraphError
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.op import Op
from hepinfer.ops.conv import same_pads
from hepinfer.ops.einsum_dense import node_data

FloatArray = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class LayerInfo:
    """One Keras layer: name, class, config dict, input node names and weight arrays."""

    name: str
    cls: str
    config: dict[str, Any]
    sources: list[str]
    weights: list[FloatArray]

    def weight(self, i: int, what: str) -> FloatArray:
        if i >= len(self.weights):
            msg = f"Keras layer {self.name!r} ({self.cls}) has no {what} weight in the weights file"
            raise FrontendError(msg)
        return self.weights[i]


Converter = Callable[[GraphBuilder, LayerInfo], str]

#: Keras 3's `Random*` image augmentation layers that are identities at inference
#: (RandomCrop is not: it centre-crops at inference, so it is refused)
RANDOM_AUGMENTATIONS = (
    "Brightness",
    "ColorDegeneration",
    "ColorJitter",
    "Contrast",
    "ElasticTransform",
    "Erasing",
    "Flip",
    "GaussianBlur",
    "Grayscale",
    "Hue",
    "Invert",
    "Perspective",
    "Posterization",
    "Rotation",
    "Saturation",
    "Sharpness",
    "Shear",
    "Translation",
    "Zoom",
)


def dense(b: GraphBuilder, layer: LayerInfo) -> str:
    kernel = layer.weight(0, "kernel")
    use_bias = layer.config.get("use_bias", True)
    bias = layer.weight(1, "bias") if use_bias else np.zeros(kernel.shape[1])
    return b.add(layer.name, Op.DENSE, layer.sources, {}, {"kernel": kernel, "bias": bias})


def batchnorm(b: GraphBuilder, layer: LayerInfo) -> str:
    cfg = layer.config
    i = 0
    n = b.shape(layer.sources[0])[-1]
    dtype = layer.weights[0].dtype if layer.weights else np.float64
    gamma = np.ones(n, dtype=dtype)
    beta = np.zeros(n, dtype=dtype)
    if cfg.get("scale", True):
        gamma, i = layer.weight(i, "gamma"), i + 1
    if cfg.get("center", True):
        beta, i = layer.weight(i, "beta"), i + 1
    mean, var = layer.weight(i, "moving_mean"), layer.weight(i + 1, "moving_variance")
    # in the weights' own precision (float32), as Keras and hls4ml compute it
    scale = gamma / np.sqrt(var + float(cfg.get("epsilon", 1e-3)))
    return b.add(
        layer.name, Op.BATCHNORM, layer.sources, {}, {"scale": scale, "bias": beta - mean * scale}
    )


def activation(b: GraphBuilder, layer: LayerInfo) -> str:
    act = layer.config["activation"]
    return b.activation(layer.name, act if isinstance(act, str) else "relu", layer.sources[0])


def relu(b: GraphBuilder, layer: LayerInfo) -> str:
    """ReLU, or as hls4ml reads its settings: a negative slope is a LeakyReLU, a threshold a
    ThresholdedReLU; a max_value, or both a slope and a threshold, are refused (as by hls4ml).
    """
    cfg = layer.config
    slope = float(cfg.get("negative_slope") or 0.0)
    threshold = float(cfg.get("threshold") or 0.0)
    if cfg.get("max_value") not in (None, float("inf")) or (slope and threshold):
        msg = (
            f"Keras layer {layer.name!r} (ReLU): max_value={cfg.get('max_value')}, "
            f"negative_slope={slope}, threshold={threshold} is not supported; supported: no "
            "max_value, and a negative_slope or a threshold (not both)"
        )
        raise FrontendError(msg)
    if slope:
        return b.add(layer.name, Op.LEAKY_RELU, layer.sources, {"alpha": slope})
    if threshold:
        return b.add(layer.name, Op.THRESHOLDED_RELU, layer.sources, {"theta": threshold})
    return b.add(layer.name, Op.RELU, layer.sources)


def thresholded_relu(b: GraphBuilder, layer: LayerInfo) -> str:
    theta = float(layer.config.get("theta", 1.0))
    return b.add(layer.name, Op.THRESHOLDED_RELU, layer.sources, {"theta": theta})


def prelu(b: GraphBuilder, layer: LayerInfo) -> str:
    """PReLU: alpha broadcast over the shared axes to the input's shape."""
    shape = b.shape(layer.sources[0])
    alpha = np.broadcast_to(layer.weight(0, "alpha"), shape)
    return b.add(layer.name, Op.PRELU, layer.sources, {}, {"alpha": np.array(alpha)})


def softmax(b: GraphBuilder, layer: LayerInfo) -> str:
    return b.add(layer.name, Op.SOFTMAX, layer.sources)


def flatten(b: GraphBuilder, layer: LayerInfo) -> str:
    return b.add(layer.name, Op.FLATTEN, layer.sources)


def reshape(b: GraphBuilder, layer: LayerInfo) -> str:
    return b.add(
        layer.name, Op.RESHAPE, layer.sources, {"shape": tuple(layer.config["target_shape"])}
    )


def dropout(b: GraphBuilder, layer: LayerInfo) -> str:
    del b
    return layer.sources[0]


def _padding(
    b: GraphBuilder,
    layer: LayerInfo,
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
) -> tuple[int, ...]:
    mode = str(layer.config.get("padding", "valid")).lower()
    n = len(kernel)
    if mode == "valid":
        return (0,) * (2 * n)
    if mode == "same":
        return same_pads(b.shape(layer.sources[0])[:n], kernel, strides, dilations)
    msg = f"Keras layer {layer.name!r}: padding {mode!r} is not supported (valid, same)"
    raise FrontendError(msg)


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    return tuple(int(v) for v in value)


def conv(b: GraphBuilder, layer: LayerInfo) -> str:
    kernel = layer.weight(0, "kernel")
    rank = kernel.ndim - 2
    if layer.config.get("data_format", "channels_last") != "channels_last":
        msg = f"Keras layer {layer.name!r}: only data_format='channels_last' is supported"
        raise FrontendError(msg)
    bias = (
        layer.weight(1, "bias")
        if layer.config.get("use_bias", True)
        else np.zeros(kernel.shape[-1])
    )
    strides = _tuple(layer.config.get("strides", 1), rank)
    dilations = _tuple(layer.config.get("dilation_rate", 1), rank)
    pads = _padding(b, layer, kernel.shape[:rank], strides, dilations)
    attrs = {"strides": strides, "dilations": dilations, "pads": pads}
    op = Op.CONV1D if rank == 1 else Op.CONV2D
    return b.add(layer.name, op, layer.sources, attrs, {"kernel": kernel, "bias": bias})


def conv_transpose(b: GraphBuilder, layer: LayerInfo) -> str:
    """Conv1DTranspose / Conv2DTranspose (hls4ml 1.3 converts neither) as hepinfer's
    ConvTranspose: Keras' kernel `(*k, filters, c_in)` flipped and its channel axes swapped
    (the equivalent convolution's kernel), Keras' padding (its JAX/torch backends' rule:
    'valid' adds `max(k, s) - k` positions at the end by default, 'same' gives `in * s`,
    an `output_padding` the size `(in - 1) * s + k % 2 + output_padding`) as the pads
    removed from the full output.
    """
    cfg = layer.config
    kernel = layer.weight(0, "kernel")
    rank = kernel.ndim - 2
    if cfg.get("data_format", "channels_last") != "channels_last":
        msg = f"Keras layer {layer.name!r} ({layer.cls}): only data_format='channels_last' is supported"
        raise FrontendError(msg)
    dilations = _tuple(cfg.get("dilation_rate", 1), rank)
    mode = str(cfg.get("padding", "valid")).lower()
    if any(d != 1 for d in dilations) or mode not in ("valid", "same"):
        msg = (
            f"Keras layer {layer.name!r} ({layer.cls}): dilation_rate={dilations}, "
            f"padding={mode!r} is not supported; supported: dilation_rate 1, padding "
            "'valid' or 'same'"
        )
        raise FrontendError(msg)
    strides = _tuple(cfg.get("strides", 1), rank)
    extra = cfg.get("output_padding")
    extras = (None,) * rank if extra is None else _tuple(extra, rank)
    begin, end = [], []
    for k, s, op in zip(kernel.shape[:rank], strides, extras, strict=True):
        if mode == "valid":  # grid pads k - 1 and k - 1 + output_padding
            left, right = k - 1, k - 1 + (max(k, s) - k if op is None else op)
        else:
            total = s + k - 2 if op is None else k + k % 2 - 2 + op
            left = min(total // 2 + total % 2, k - 1)
            right = total - left
        begin.append(k - 1 - left)
        end.append(k - 1 - right)  # negative: positions added at the end
    n_filt = int(kernel.shape[-2])
    bias = layer.weight(1, "bias") if cfg.get("use_bias", True) else np.zeros(n_filt)
    flipped = np.flip(kernel, axis=tuple(range(rank))).swapaxes(-1, -2)
    attrs = {"strides": strides, "pads": (*begin, *end), "output_padding": (0,) * rank}
    weights = {"kernel": np.ascontiguousarray(flipped), "bias": bias}
    return b.add(layer.name, Op.CONV_TRANSPOSE, layer.sources, attrs, weights)


def depthwise(b: GraphBuilder, layer: LayerInfo) -> str:
    """DepthwiseConv1D / DepthwiseConv2D (depth multiplier 1)."""
    kernel = layer.weight(0, "depthwise_kernel")
    if kernel.shape[-1] != 1:
        msg = f"Keras layer {layer.name!r}: depth_multiplier {kernel.shape[-1]} is not supported (1 only)"
        raise FrontendError(msg)
    rank = kernel.ndim - 2
    bias = (
        layer.weight(1, "bias")
        if layer.config.get("use_bias", True)
        else np.zeros(kernel.shape[-2])
    )
    strides = _tuple(layer.config.get("strides", 1), rank)
    dilations = _tuple(layer.config.get("dilation_rate", 1), rank)
    pads = _padding(b, layer, kernel.shape[:rank], strides, dilations)
    attrs = {"strides": strides, "dilations": dilations, "pads": pads}
    op = Op.DEPTHWISE_CONV1D if rank == 1 else Op.DEPTHWISE_CONV2D
    return b.add(layer.name, op, layer.sources, attrs, {"kernel": kernel, "bias": bias})


def separable(b: GraphBuilder, layer: LayerInfo) -> str:
    """SeparableConv1D/2D as hls4ml 1.3 computes it: a depthwise convolution without bias
    (`<name>_depthwise`) then a 1x1 convolution with the bias (`<name>_pointwise`); a
    per-layer configuration of `<name>` reaches both (`hepinfer.config.Precision.part`).
    """
    kernel = layer.weight(0, "depthwise_kernel")
    pointwise = layer.weight(1, "pointwise_kernel")
    rank = kernel.ndim - 2
    if kernel.shape[-1] != 1:
        msg = f"Keras layer {layer.name!r} ({layer.cls}): depth_multiplier {kernel.shape[-1]} is not supported (1 only)"
        raise FrontendError(msg)
    use_bias = layer.config.get("use_bias", True)
    bias = layer.weight(2, "bias") if use_bias else np.zeros(pointwise.shape[-1])
    strides = _tuple(layer.config.get("strides", 1), rank)
    dilations = _tuple(layer.config.get("dilation_rate", 1), rank)
    pads = _padding(b, layer, kernel.shape[:rank], strides, dilations)
    attrs = {"strides": strides, "dilations": dilations, "pads": pads, "separable": layer.name}
    dw_op = Op.DEPTHWISE_CONV1D if rank == 1 else Op.DEPTHWISE_CONV2D
    dw_weights = {"kernel": kernel, "bias": np.zeros(kernel.shape[-2])}
    dw = b.add(f"{layer.name}_depthwise", dw_op, layer.sources, attrs, dw_weights)
    pw_attrs = {"strides": (1,) * rank, "dilations": (1,) * rank, "pads": (0,) * (2 * rank)}
    pw_op = Op.CONV1D if rank == 1 else Op.CONV2D
    return b.add(
        f"{layer.name}_pointwise",
        pw_op,
        [dw],
        {**pw_attrs, "separable": layer.name},
        {"kernel": pointwise, "bias": bias},
    )


def _pool(op: Op, rank: int) -> Converter:
    def convert(b: GraphBuilder, layer: LayerInfo) -> str:
        pool = _tuple(layer.config.get("pool_size", 2), rank)
        strides = _tuple(layer.config.get("strides") or pool, rank)
        pads = _padding(b, layer, pool, strides, (1,) * rank)
        return b.add(
            layer.name, op, layer.sources, {"pool": pool, "strides": strides, "pads": pads}
        )

    return convert


def _simple(op: Op) -> Converter:
    def convert(b: GraphBuilder, layer: LayerInfo) -> str:
        return b.add(layer.name, op, layer.sources)

    return convert


def concatenate(b: GraphBuilder, layer: LayerInfo) -> str:
    axis = int(layer.config.get("axis", -1))
    return b.add(layer.name, Op.CONCAT, layer.sources, {"axis": axis - 1 if axis > 0 else axis})


def leaky_relu(b: GraphBuilder, layer: LayerInfo) -> str:
    alpha = layer.config.get("negative_slope", layer.config.get("alpha", 0.3))
    return b.add(layer.name, Op.LEAKY_RELU, layer.sources, {"alpha": float(alpha)})


def elu(b: GraphBuilder, layer: LayerInfo) -> str:
    return b.add(
        layer.name, Op.ELU, layer.sources, {"alpha": float(layer.config.get("alpha", 1.0))}
    )


def permute(b: GraphBuilder, layer: LayerInfo) -> str:
    perm = tuple(int(d) - 1 for d in layer.config["dims"])
    return b.add(layer.name, Op.TRANSPOSE, layer.sources, {"perm": perm})


def _activation_name(value: Any, default: str) -> str:
    if value is None:
        return default
    return str(value if isinstance(value, str) else value.get("config", value)).lower()


def recurrent(b: GraphBuilder, layer: LayerInfo, backward: bool = False) -> str:
    """SimpleRNN, LSTM, GRU: kernel, recurrent kernel and bias(es) in Keras' gate order
    (`backward`: the backward half of a Bidirectional layer).
    """
    cfg = layer.config
    op = {"SimpleRNN": Op.SIMPLE_RNN, "LSTM": Op.LSTM, "GRU": Op.GRU}[layer.cls]
    for key in ("return_state", "go_backwards", "stateful"):
        if cfg.get(key, False):
            msg = f"Keras layer {layer.name!r} ({layer.cls}) with {key}=True is not supported"
            raise FrontendError(msg)
    kernel = layer.weight(0, "kernel")
    rkernel = layer.weight(1, "recurrent_kernel")
    n_out = kernel.shape[1]
    bias: FloatArray = np.zeros(n_out)
    rbias: FloatArray = np.zeros(n_out)
    if cfg.get("use_bias", True):
        raw = np.asarray(layer.weight(2, "bias"))
        if raw.ndim == 2:  # GRU reset_after: input and recurrent biases
            bias, rbias = raw[0], raw[1]
        else:
            bias = raw
    attrs: dict[str, Any] = {
        "units": int(cfg["units"]),
        "activation": _activation_name(cfg.get("activation"), "tanh"),
        "recurrent_activation": _activation_name(cfg.get("recurrent_activation"), "sigmoid"),
        "return_sequences": bool(cfg.get("return_sequences", False)),
    }
    if op is Op.SIMPLE_RNN:
        del attrs["recurrent_activation"]
    if op is Op.GRU:
        attrs["reset_after"] = bool(cfg.get("reset_after", True))
    if backward:
        attrs["backward"] = True
    weights = {"kernel": kernel, "recurrent_kernel": rkernel, "bias": bias, "recurrent_bias": rbias}
    return b.add(layer.name, op, layer.sources, attrs, weights)


#: Bidirectional merge modes: the merge node of the two halves' outputs
MERGE_MODES = {"concat": Op.CONCAT, "sum": Op.ADD, "mul": Op.MULTIPLY, "ave": Op.AVERAGE}


def bidirectional(b: GraphBuilder, layer: LayerInfo) -> str:
    """A forward and a backward recurrent layer, their outputs merged as `merge_mode` says:
    concatenated (`concat`, hls4ml's only mode), or added, multiplied or averaged (`sum`,
    `mul`, `ave`: an Add, Multiply or Average node, as Keras merges them).
    """
    cfg = layer.config
    mode = cfg.get("merge_mode", "concat")
    if mode not in MERGE_MODES:
        msg = (
            f"Keras layer {layer.name!r} (Bidirectional) with merge_mode {mode!r} is not "
            f"supported (it returns the two halves as two tensors); supported: "
            f"{', '.join(MERGE_MODES)}"
        )
        raise FrontendError(msg)
    fwd = cfg["layer"]
    bwd = cfg.get("backward_layer") or fwd
    if fwd["config"].get("go_backwards", False):
        fwd, bwd = bwd, fwd  # hls4ml's order: the forward layer first
    for inner in (fwd, bwd):
        if inner["class_name"] not in ("SimpleRNN", "LSTM", "GRU"):
            msg = (
                f"Keras layer {layer.name!r} (Bidirectional) wraps a {inner['class_name']!r}; "
                "supported: SimpleRNN, LSTM, GRU"
            )
            raise FrontendError(msg)
    n = len(layer.weights) // 2
    halves = []
    for half, (inner, weights) in (
        ("forward", (fwd, layer.weights[:n])),
        ("backward", (bwd, layer.weights[n:])),
    ):
        icfg = {**inner["config"], "go_backwards": False}
        info = LayerInfo(f"{layer.name}_{half}", inner["class_name"], icfg, layer.sources, weights)
        halves.append(recurrent(b, info, backward=half == "backward"))
    if mode == "concat":
        return b.add(layer.name, Op.CONCAT, halves, {"axis": -1})
    return b.add(layer.name, MERGE_MODES[mode], halves)


def _begin_end(layer: LayerInfo, key: str, rank: int) -> tuple[int, ...]:
    """A Keras padding/cropping setting as (begin per axis..., end per axis...): an int is
    the same everywhere; in 1D a pair is (begin, end); in 2D a pair of ints is symmetric per
    axis and a pair of pairs is ((top, bottom), (left, right)).
    """
    value = layer.config.get(key, 1)
    if layer.config.get("data_format", "channels_last") not in (None, "channels_last"):
        msg = f"Keras layer {layer.name!r} ({layer.cls}): only data_format='channels_last' is supported"
        raise FrontendError(msg)
    if isinstance(value, int):
        pairs = [(value, value)] * rank
    elif rank == 1:
        pairs = [(int(value[0]), int(value[1]))]
    else:
        pairs = [(int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in value]
    return tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)


def _zero_padding(rank: int) -> Converter:
    def convert(b: GraphBuilder, layer: LayerInfo) -> str:
        pads = _begin_end(layer, "padding", rank)
        return b.add(layer.name, Op.ZERO_PADDING, layer.sources, {"pads": pads})

    return convert


def _cropping(rank: int) -> Converter:
    def convert(b: GraphBuilder, layer: LayerInfo) -> str:
        crops = _begin_end(layer, "cropping", rank)
        return b.add(layer.name, Op.CROPPING, layer.sources, {"crops": crops})

    return convert


def _upsampling(rank: int) -> Converter:
    def convert(b: GraphBuilder, layer: LayerInfo) -> str:
        cfg = layer.config
        if str(cfg.get("interpolation", "nearest")) != "nearest" or cfg.get(
            "data_format", "channels_last"
        ) not in (None, "channels_last"):
            msg = (
                f"Keras layer {layer.name!r} ({layer.cls}) with interpolation="
                f"{cfg.get('interpolation')!r}, data_format={cfg.get('data_format')!r} is not "
                "supported; supported: interpolation='nearest', data_format='channels_last'"
            )
            raise FrontendError(msg)
        scale = _tuple(cfg.get("size", 2), rank)
        return b.add(layer.name, Op.UPSAMPLING, layer.sources, {"scale": scale})

    return convert


def embedding(b: GraphBuilder, layer: LayerInfo) -> str:
    """Embedding: the table of `input_dim` rows of `output_dim` values."""
    table = layer.weight(0, "embeddings")
    return b.add(layer.name, Op.EMBEDDING, layer.sources, {}, {"embeddings": table})


def dot(b: GraphBuilder, layer: LayerInfo) -> str:
    """Dot of two rank-1 inputs (hls4ml's Dot): `axes` must name that axis, no `normalize`."""
    axes = layer.config.get("axes", -1)
    axes = [axes, axes] if isinstance(axes, int) else list(axes)
    ranks = [len(b.shape(s)) for s in layer.sources]
    if layer.config.get("normalize") or ranks != [1, 1] or any(a not in (1, -1) for a in axes):
        msg = (
            f"Keras layer {layer.name!r} (Dot) with axes={layer.config.get('axes')}, "
            f"normalize={layer.config.get('normalize')} on inputs of ranks {ranks} is not "
            "supported; supported (as hls4ml): two rank-1 inputs, axes=1, normalize=False"
        )
        raise FrontendError(msg)
    return b.add(layer.name, Op.DOT, layer.sources)


def layernorm(b: GraphBuilder, layer: LayerInfo) -> str:
    """LayerNormalization over the last axis (hls4ml 1.3: a (seq, features) input, axis 2)."""
    cfg = layer.config
    rank = len(b.shape(layer.sources[0]))
    axis = cfg.get("axis", -1)
    axes = [int(a) for a in axis] if isinstance(axis, list | tuple) else [int(axis)]
    if axes not in ([-1], [rank]) or cfg.get("rms_scaling", False):
        msg = (
            f"Keras layer {layer.name!r} (LayerNormalization) with axis={axis}, "
            f"rms_scaling={cfg.get('rms_scaling', False)} on an input of rank {rank} is not "
            "supported; supported: the last axis (-1), no rms_scaling"
        )
        raise FrontendError(msg)
    n = b.shape(layer.sources[0])[-1]
    i = 0
    gamma: FloatArray = np.ones(n)
    beta: FloatArray = np.zeros(n)
    if cfg.get("scale", True):
        gamma, i = layer.weight(i, "gamma"), i + 1
    if cfg.get("center", True):
        beta = layer.weight(i, "beta")
    epsilon = float(cfg.get("epsilon", 1e-3))
    attrs = layernorm_attrs(layer.name, epsilon)
    return b.add(layer.name, Op.LAYERNORM, layer.sources, attrs, {"scale": gamma, "bias": beta})


def layernorm_attrs(name: str, epsilon: float) -> dict[str, Any]:
    """`epsilon` and hls4ml's `epsilon_power_of_10` (`-round(log10(epsilon))`, positive)."""
    power = -round(np.log10(epsilon)) if epsilon > 0 else 0
    if power <= 0:
        msg = (
            f"layer {name!r} (LayerNormalization): epsilon={epsilon} is not supported; hls4ml's "
            "kernel starts its table at 10**-p: use an epsilon in (0, 0.1]"
        )
        raise FrontendError(msg)
    return {"epsilon": epsilon, "epsilon_power_of_10": int(power)}


def einsum_dense(b: GraphBuilder, layer: LayerInfo) -> str:
    """EinsumDense: hls4ml 1.3's plan of the equation (`hepinfer.ops.einsum_dense.recipe`)."""
    cfg = layer.config
    equation = str(cfg.get("equation", ""))
    ins, _, out = equation.partition("->")
    in0 = ins.split(",")[0]
    if not in0 or not out or in0[0] != out[0] or in0.startswith("."):
        msg = (
            f"Keras layer {layer.name!r} (EinsumDense) with equation {equation!r} is not "
            "supported; supported: the batch axis first in the input and the output, no '...'"
        )
        raise FrontendError(msg)
    stripped = f"{in0[1:]},{ins.split(',')[1]}->{out[1:]}"
    kernel = layer.weight(0, "kernel")
    bias = layer.weight(1, "bias") if cfg.get("bias_axes") else None
    try:
        attrs, weights = node_data(stripped, b.shape(layer.sources[0]), kernel, bias)
    except GraphError as exc:
        msg = f"Keras layer {layer.name!r} (EinsumDense): {exc}"
        raise FrontendError(msg) from exc
    return b.add(layer.name, Op.EINSUM_DENSE, layer.sources, attrs, weights)


#: layers that act on the last axis alone, so that on a (time, ...) input they already act
#: on each time step: what TimeDistributed may wrap
PER_STEP = (
    "Dense",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "ThresholdedReLU",
    "Softmax",
    "BatchNormalization",
    "LayerNormalization",
    "Dropout",
)


def time_distributed(b: GraphBuilder, layer: LayerInfo) -> str:
    """TimeDistributed(inner): `inner` applied to every time step. hls4ml 1.3 loops over the
    steps around the inner layer (named by its own name) with copies of unchanged type; a
    layer of `PER_STEP` on the (time, ...) input computes the same, so it becomes that
    layer's node (named by the inner name, marked with the wrapper's name). The inner
    layer's activation is split off as for any layer (hls4ml 1.3 drops it; Keras applies it).
    """
    inner = layer.config.get("layer", {})
    cls = str(inner.get("class_name", ""))
    if cls not in PER_STEP or len(b.shape(layer.sources[0])) < 2:
        msg = (
            f"Keras layer {layer.name!r} (TimeDistributed) wraps a {cls!r} on an input of "
            f"shape {b.shape(layer.sources[0])}; supported: a (time, ...) input and a layer "
            f"acting on the last axis: {', '.join(PER_STEP)}"
        )
        raise FrontendError(msg)
    cfg = dict(inner.get("config", {}))
    name = str(cfg.get("name", f"{layer.name}_inner"))
    out = CONVERTERS[cls](b, LayerInfo(name, cls, cfg, layer.sources, layer.weights))
    if out not in layer.sources:  # (a Dropout adds no node)
        node = b.node(out)
        b.replace(node.replace(attrs={**node.attrs, "time_distributed": layer.name}))
    activation = cfg.get("activation")
    if cls != "Activation" and isinstance(activation, str) and activation != "linear":
        out = b.activation(f"{name}_{activation}", activation, out)
    return out


#: Keras recurrent layer classes: their `activation` is part of the layer, not split off
RECURRENT = ("SimpleRNN", "LSTM", "GRU", "Bidirectional")

CONVERTERS: dict[str, Converter] = {
    "Conv1D": conv,
    "Conv2D": conv,
    "DepthwiseConv2D": depthwise,
    "DepthwiseConv1D": depthwise,
    "SeparableConv1D": separable,
    "SeparableConv2D": separable,
    "Conv1DTranspose": conv_transpose,
    "Conv2DTranspose": conv_transpose,
    "MaxPooling1D": _pool(Op.MAXPOOL, 1),
    "MaxPooling2D": _pool(Op.MAXPOOL, 2),
    "AveragePooling1D": _pool(Op.AVGPOOL, 1),
    "AveragePooling2D": _pool(Op.AVGPOOL, 2),
    "GlobalMaxPooling1D": _simple(Op.GLOBAL_MAXPOOL),
    "GlobalMaxPooling2D": _simple(Op.GLOBAL_MAXPOOL),
    "GlobalAveragePooling1D": _simple(Op.GLOBAL_AVGPOOL),
    "GlobalAveragePooling2D": _simple(Op.GLOBAL_AVGPOOL),
    "Add": _simple(Op.ADD),
    "Multiply": _simple(Op.MULTIPLY),
    "Subtract": _simple(Op.SUBTRACT),
    "Average": _simple(Op.AVERAGE),
    "Maximum": _simple(Op.MAXIMUM),
    "Minimum": _simple(Op.MINIMUM),
    "Concatenate": concatenate,
    "LeakyReLU": leaky_relu,
    "ELU": elu,
    "Permute": permute,
    "Dense": dense,
    "BatchNormalization": batchnorm,
    "Activation": activation,
    "ReLU": relu,
    "ThresholdedReLU": thresholded_relu,
    "PReLU": prelu,
    "Softmax": softmax,
    "Flatten": flatten,
    "Reshape": reshape,
    "Dropout": dropout,
    # identities at inference (hls4ml 1.3's Keras 3 handler skips them the same way)
    **dict.fromkeys(
        (
            "AlphaDropout",
            "GaussianDropout",
            "SpatialDropout1D",
            "SpatialDropout2D",
            "SpatialDropout3D",
            *(f"Random{kind}" for kind in RANDOM_AUGMENTATIONS),
        ),
        dropout,
    ),
    "LSTM": recurrent,
    "GRU": recurrent,
    "SimpleRNN": recurrent,
    "Bidirectional": bidirectional,
    "ZeroPadding1D": _zero_padding(1),
    "ZeroPadding2D": _zero_padding(2),
    "Cropping1D": _cropping(1),
    "Cropping2D": _cropping(2),
    "UpSampling1D": _upsampling(1),
    "UpSampling2D": _upsampling(2),
    "Embedding": embedding,
    "Dot": dot,
    "LayerNormalization": layernorm,
    "TimeDistributed": time_distributed,
    "EinsumDense": einsum_dense,
}
