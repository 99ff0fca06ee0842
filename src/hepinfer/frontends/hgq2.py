"""HGQ2 frontend: HGQ2 (Keras 3, package `hgq2`) models with every quantiser read as types.

An HGQ2 layer `Q<X>` computes `oq(activation(X(iq(x), qkernel, qbias)))`: each quantiser
(`iq`: the inputs', `oq`: the output's, when the layer enables them) becomes a
`FixedPointQuantizer` node with its per-element types (`hepinfer.ops.fixed_point_quantizer`)
named `<layer>_iq` / `<layer>_oq` (`_iq<n>` for the n-th input of a merge), and `X` is built by
the Keras frontend's converter with the quantised weights, as hls4ml 1.3's HGQ2 handlers
convert them. Between quantisers nothing is lost, as in HGQ2 and in hls4ml 1.3's bit-exact
flow: every other node is marked `bit_exact` (weights and biases in their exact types, exact
accumulators and results, chosen by `hepinfer.passes.apply_config` whatever the configured
precision says) and a graph input that feeds quantisers gets hls4ml's input type (the
quantisers' widest integer part, their fractional bits plus one for RND, wrapping unless
every one saturates) in its `input_type` attribute.

QEinsum becomes an Einsum, QSoftmax a `BitExactSoftmax` (its table quantisers as its types,
`hepinfer.ops.bit_exact_softmax`), and QMultiHeadAttention the layers hls4ml 1.3's handler
lowers it to (query/key/value projections, key-query Einsum, softmax, score-value Einsum,
output projection), each with its own quantisers.

The quantisers are read with Keras and HGQ2 by `hepinfer.frontends.hgq2_export`; its
output (`export(model)`, or the `.npz` its script writes) converts here without them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FrontendError, GraphError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.frontends import keras as keras_frontend
from hepinfer.frontends import keras_layers as kl
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.frontends.keras_layers import Converter, LayerInfo
from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op
from hepinfer.ops import einsum as einsum_op
from hepinfer.ops import fixed_point_quantizer as fpq

Arrays = Mapping[str, npt.NDArray[Any]]

#: HGQ2 layer class -> the Keras layer it quantises (hepinfer's Keras converter of it)
BASES: dict[str, str] = {
    "QDense": "Dense",
    "QBatchNormDense": "Dense",  # its quantised kernel and bias have the normalisation folded
    "QConv1D": "Conv1D",
    "QConv2D": "Conv2D",
    "QAdd": "Add",
    "QSubtract": "Subtract",
    "QMultiply": "Multiply",
    "QMaximum": "Maximum",
    "QMinimum": "Minimum",
    "QMaxPooling1D": "MaxPooling1D",
    "QMaxPooling2D": "MaxPooling2D",
    "QBatchNormalization": "BatchNormalization",
    "QAveragePooling1D": "AveragePooling1D",
    "QAveragePooling2D": "AveragePooling2D",
    "QGlobalAveragePooling1D": "GlobalAveragePooling1D",
    "QGlobalAveragePooling2D": "GlobalAveragePooling2D",
    "QAveragePow2": "Average",  # two inputs: the scale is 1/2, hls4ml's `average`
    "QDot": "Dot",
    "Quantizer": "",  # HGQ2's standalone quantiser: a FixedPointQuantizer of its own
    "QUnaryFunctionLUT": "",  # a UnaryLUT of the table the export computes
    "QEinsumDense": "EinsumDense",
    "QEinsumDenseBatchnorm": "EinsumDense",  # its quantised kernel and bias are the fused ones
    "QEinsum": "Einsum",
    "QSoftmax": "Softmax",
    "QMultiHeadAttention": "MultiHeadAttention",
    "QLinformerAttention": "MultiHeadAttention",  # after its key and value projections
}
#: the tag HGQ2 layers get in the converted Keras config (their names clash with QKeras's)
PREFIX = "hgq2."
#: where an HGQ2 layer's `activation` moves (the converter applies it before the output
#: quantiser; the Keras frontend would add it after)
ACTIVATION = "hgq2_activation"


def _quantizer(
    b: GraphBuilder, name: str, source: str, data: Arrays, key: str, modes: Mapping[str, str]
) -> str:
    shape = b.shape(source)
    arrays = {}
    for part in ("k", "i", "f"):
        a = np.asarray(data[f"{key}/{part}"], dtype=np.float64)
        if a.ndim == len(shape) + 1:
            a = a[0]  # HGQ2 keeps the (homogeneous) batch axis
        try:
            arrays[part] = np.broadcast_to(a, shape).copy()
        except ValueError:
            msg = (
                f"HGQ2 quantiser {key!r}: its {part} of shape {a.shape} does not fit the "
                f"tensor of shape {shape}; export the model with hgq2_export.export"
            )
            raise FrontendError(msg) from None
    attrs = {"round": modes["round"], "overflow": modes["overflow"]}
    out = b.add(name, Op.FIXED_POINT_QUANTIZER, [source], attrs, arrays)
    fpq.modes(b.node(out))  # refuse unsupported modes here, naming the quantiser
    return out


def _batchnorm(b: GraphBuilder, layer: LayerInfo) -> str:
    """QBatchNormalization: x * scale + offset, both quantised (`qscaler_and_qoffset`)."""
    axis = layer.config.get("axis", -1)
    rank = len(b.shape(layer.sources[0]))
    if axis not in (-1, rank):
        msg = (
            f"HGQ2 layer {layer.name!r} (QBatchNormalization) normalises axis {axis}; only the "
            "last axis is supported (as in hls4ml 1.3)"
        )
        raise FrontendError(msg)
    scale, offset = (np.asarray(w, dtype=np.float64) for w in layer.weights)
    weights = {"scale": scale.ravel(), "bias": offset.ravel()}
    return b.add(layer.name, Op.BATCHNORM, layer.sources, {}, weights)


def _standalone(data: Arrays, modes: Mapping[str, Mapping[str, Mapping[str, str]]]) -> Converter:
    """HGQ2's `Quantizer` layer: its quantiser (exported as `iq0`), named after the layer."""

    def build(b: GraphBuilder, layer: LayerInfo) -> str:
        (source,) = layer.sources
        key = f"{layer.name}/iq0"
        return _quantizer(b, layer.name, source, data, key, modes[layer.name]["iq0"])

    return build


def _unary_lut(data: Arrays) -> Converter:
    """QUnaryFunctionLUT: the table hls4ml 1.3 builds (the activation on every value of the
    input quantiser's widest type, through the output quantiser), indexed by the input's bits.
    """

    def build(b: GraphBuilder, layer: LayerInfo) -> str:
        key = f"{layer.name}/table"
        if key not in data:
            msg = (
                f"HGQ2 layer {layer.name!r} (QUnaryFunctionLUT) has no exported table; it needs "
                "an enabled input quantiser (as in hls4ml 1.3); export it with "
                "hgq2_export.export"
            )
            raise FrontendError(msg)
        frac = int(np.asarray(data[f"{layer.name}/table_kif"])[2])
        table = np.asarray(data[key], dtype=np.float64)
        return b.add(
            layer.name, Op.UNARY_LUT, layer.sources, {"index_frac": frac}, {"table": table}
        )

    return build


def _einsum(b: GraphBuilder, layer: LayerInfo) -> str:
    """QEinsum of two tensors: hls4ml 1.3's Einsum of the equation without the batch axis."""
    equation = str(layer.config.get("equation", ""))
    try:
        if len(layer.sources) != 2:
            msg = f"{len(layer.sources)} inputs are not supported; supported: two"
            raise GraphError(msg)
        stripped = einsum_op.strip_batch(equation)
    except GraphError as exc:
        msg = f"HGQ2 layer {layer.name!r} (QEinsum) with {exc}"
        raise FrontendError(msg) from exc
    shapes = [b.shape(src) for src in layer.sources]
    try:
        attrs = einsum_op.node_attrs(stripped, shapes[0], shapes[1])
    except GraphError as exc:
        msg = f"HGQ2 layer {layer.name!r} (QEinsum): {exc}"
        raise FrontendError(msg) from exc
    return b.add(layer.name, Op.EINSUM, layer.sources, attrs)


def _table_type(data: Arrays, key: str, mode: Mapping[str, str]) -> str:
    """The fixed-point type of one homogeneous table quantiser of a QSoftmax."""
    k, i, f = (int(np.max(np.asarray(data[f"{key}/{p}"]))) for p in ("k", "i", "f"))
    sizes = {int(np.asarray(data[f"{key}/{p}"]).size) for p in ("k", "i", "f")}
    if sizes != {1}:
        msg = (
            f"HGQ2 quantiser {key!r} has one type per element; QSoftmax tables need one type "
            "(allow_heterogeneous_table=False, as hls4ml 1.3)"
        )
        raise FrontendError(msg)
    rnd = str(mode["round"]).removeprefix("S_")
    sat = str(mode["overflow"])
    return str(FixedType(max(k + i + f, 1), k + i, bool(k), Quant.parse(rnd), Overflow.parse(sat)))


def _softmax(data: Arrays, modes: Mapping[str, Mapping[str, Mapping[str, str]]]) -> Converter:
    def build(b: GraphBuilder, layer: LayerInfo) -> str:
        """QSoftmax: hls4ml 1.3's bit-exact softmax with the tables' quantisers as types
        (`stable=False`: its latency form, the input's own bits index the exp table).
        """
        cfg = layer.config
        own = modes.get(layer.name, {})
        stable = bool(cfg.get("stable", True))
        tags = (
            ("exp_iq", "exp_oq", "inv_iq", "inv_oq") if stable else ("exp_oq", "inv_iq", "inv_oq")
        )
        missing = [tag for tag in tags if tag not in own]
        if missing:
            msg = (
                f"HGQ2 layer {layer.name!r} (QSoftmax, stable={stable}) has no exported "
                f"quantisers {missing}; export it with hgq2_export.export"
            )
            raise FrontendError(msg)
        if len(layer.sources) != 1:
            msg = f"HGQ2 layer {layer.name!r} (QSoftmax): a mask input is not supported"
            raise FrontendError(msg)
        axes = cfg.get("axes") or cfg.get("axis") or (-1,)
        axes = [axes] if isinstance(axes, int) else list(axes)
        rank = len(b.shape(layer.sources[0])) + 1
        if any(int(a) % rank == 0 for a in axes):
            msg = f"HGQ2 layer {layer.name!r} (QSoftmax): softmax over the batch axis"
            raise FrontendError(msg)
        attrs: dict[str, Any] = {
            "axes": tuple(int(a) % rank - 1 for a in axes),
            "exp_scale": float(cfg.get("input_scaler", 1.0)),
            "implementation": "stable" if stable else "latency",
        }
        for attr, tag in zip(
            ("norm_t", "exp_table_t", "inv_in_t", "inv_table_t")[-len(tags) :], tags, strict=True
        ):
            attrs[attr] = _table_type(data, f"{layer.name}/{tag}", own[tag])
        return b.add(layer.name, Op.BIT_EXACT_SOFTMAX, layer.sources, attrs)

    return build


def _attention(
    data: Arrays,
    modes: Mapping[str, Mapping[str, Mapping[str, str]]],
    extra: Mapping[str, Any],
) -> Converter:
    def build(b: GraphBuilder, layer: LayerInfo) -> str:
        """QMultiHeadAttention as hls4ml 1.3's handler lowers it: QEinsumDense projections of
        the query, key and value, QEinsum of key and query, QSoftmax, QEinsum of the scores
        and the value, the output QEinsumDense (each with its quantisers).
        """
        spec = extra.get(layer.name)
        if spec is None or not 1 <= len(layer.sources) <= 3:
            msg = (
                f"HGQ2 layer {layer.name!r} ({layer.cls.removeprefix(PREFIX)}): export the model with "
                "hgq2_export.export; query, value and key given by position are supported"
            )
            raise FrontendError(msg)
        query = layer.sources[0]
        value = layer.sources[1] if len(layer.sources) > 1 else query
        key = layer.sources[2] if len(layer.sources) > 2 else value
        subs = spec["sublayers"]
        weights = _weights(data, {f"{layer.name}_{s}" for s in subs})

        def sub(suffix: str, sources: list[str]) -> str:
            conf = dict(subs[suffix]["config"])
            conf[ACTIVATION] = conf.pop("activation", None)
            name = f"{layer.name}_{suffix}"
            cls = str(subs[suffix]["class_name"])
            info = LayerInfo(name, PREFIX + cls, conf, sources, weights(name))
            return _converter(cls, data, modes, extra)(b, info)

        if "lin_key" in subs:  # QLinformerAttention: the sequence projections first
            key, value = sub("lin_key", [key]), sub("lin_value", [value])
        q, k, v = sub("query", [query]), sub("key", [key]), sub("value", [value])
        scores = LayerInfo(
            f"{layer.name}_QK",
            "QEinsum",
            {"equation": spec["dot_product_equation"]},
            [k, q],
            [],
        )
        s = sub("softmax", [_einsum(b, scores)])
        combine = LayerInfo(
            f"{layer.name}_aV", "QEinsum", {"equation": spec["combine_equation"]}, [s, v], []
        )
        return sub("attention_output", [_einsum(b, combine)])

    return build


def _converter(
    cls: str,
    data: Arrays,
    modes: Mapping[str, Mapping[str, Mapping[str, str]]],
    extra: Mapping[str, Any] | None = None,
) -> Converter:
    if cls == "Quantizer":
        return _standalone(data, modes)
    base = BASES[cls]
    build = {
        "QBatchNormalization": _batchnorm,
        "QEinsum": _einsum,
        "QSoftmax": _softmax(data, modes),
        "QMultiHeadAttention": _attention(data, modes, extra or {}),
        "QLinformerAttention": _attention(data, modes, extra or {}),
        "QUnaryFunctionLUT": _unary_lut(data),
    }.get(cls) or kl.CONVERTERS[base]

    def convert(b: GraphBuilder, layer: LayerInfo) -> str:
        own = modes.get(layer.name, {})
        sources = list(layer.sources)
        for n, src in enumerate(sources):
            key = f"iq{n}"
            if key in own:
                suffix = "_iq" if len(sources) == 1 else f"_iq{n}"
                sources[n] = _quantizer(
                    b, f"{layer.name}{suffix}", src, data, f"{layer.name}/{key}", own[key]
                )
        if cls == "QAveragePow2" and len(sources) != 2:
            msg = (
                f"HGQ2 layer {layer.name!r} (QAveragePow2) has {len(sources)} inputs; "
                "supported: two (hls4ml 1.3's average)"
            )
            raise FrontendError(msg)
        config = {k: v for k, v in layer.config.items() if k != ACTIVATION}
        info = LayerInfo(layer.name, base, config, sources, layer.weights)
        out = build(b, info)
        act = layer.config.get(ACTIVATION)
        if isinstance(act, str) and act != "linear" and cls != "QUnaryFunctionLUT":
            out = b.activation(f"{layer.name}_{act}", act, out)
        if "oq0" in own:
            out = _quantizer(b, f"{layer.name}_oq", out, data, f"{layer.name}/oq0", own["oq0"])
        return out

    return convert


def _weights(data: Arrays, hgq: set[str]) -> Any:
    def weights(name: str) -> list[npt.NDArray[Any]]:
        if name in hgq:
            keys = ("scale", "offset") if f"{name}/scale" in data else ("kernel", "bias")
            return [np.asarray(data[f"{name}/{k}"]) for k in keys if f"{name}/{k}" in data]
        out, n = [], 0
        while f"{name}/w{n}" in data:
            out.append(np.asarray(data[f"{name}/w{n}"]))
            n += 1
        return out

    return weights


def input_type(quantizers: list[Node]) -> FixedType:
    """hls4ml 1.3's type of a graph input read by these quantisers (its bit-exact pass):
    the widest k, integer and fractional parts (plus one fractional bit for RND), TRN,
    saturating when every quantiser saturates, else wrapping.
    """
    ks, is_, fs = [], [], []
    saturate = True
    for q in quantizers:
        quant, overflow = fpq.modes(q)
        qk, qi, qf = fpq.kif(q)
        ks.append(int(qk.max()))
        is_.append(int(qi.max()))
        fs.append(int(qf.max()) + (1 if quant is Quant.RND else 0))
        saturate = saturate and overflow is not Overflow.WRAP
    k, i, f = max(ks), max(is_), max(fs)
    overflow = Overflow.SAT if saturate else Overflow.WRAP
    return FixedType(max(k + i + f, 1), k + i, bool(k), Quant.TRN, overflow)


def exact_types(graph: Graph) -> Graph:
    """Mark every node but the quantisers `bit_exact` (weights in their exact types) and
    give inputs read only by quantisers hls4ml's input type.
    """
    from hepinfer.frontends.qkeras import exact_type

    nodes = []
    for node in graph.nodes:
        if node.op is Op.FIXED_POINT_QUANTIZER:
            nodes.append(node)
            continue
        attrs: dict[str, Any] = {**node.attrs, "bit_exact": True}
        for key, attr in (
            ("kernel", "kernel_quantizer"),
            ("scale", "kernel_quantizer"),
            ("bias", "bias_quantizer"),
        ):
            if key in node.weights:
                attrs[attr] = exact_type(node.weights[key])
        if node.op is Op.INPUT:
            readers = list(graph.consumers(node.name))
            if readers and all(r.op is Op.FIXED_POINT_QUANTIZER for r in readers):
                attrs["input_type"] = str(input_type(readers))
        nodes.append(node.replace(attrs=attrs))
    return graph.with_nodes(nodes)


def _attention_call(layer: Mapping[str, Any], name: str, cls: str) -> None:
    """Refuse a QMultiHeadAttention call with tensors or options given by keyword (masks,
    `key=`, attention scores), which hls4ml 1.3 does not convert either.
    """
    for node in layer.get("inbound_nodes") or []:
        kwargs = node.get("kwargs", {}) if isinstance(node, dict) else {}
        tensors = "__keras_tensor__" in json.dumps(kwargs)
        scores = bool(kwargs.get("return_attention_scores")) or bool(kwargs.get("use_causal_mask"))
        if tensors or scores:
            msg = (
                f"HGQ2 layer {name!r} ({cls}) is called with keyword tensors or "
                f"options {sorted(kwargs)}; supported: query, value and key by position, no "
                "masks, no attention scores"
            )
            raise FrontendError(msg)


def _refuse_nested(layer: Mapping[str, Any], cls: str) -> None:
    """Refuse a Keras model used as a layer of an HGQ2 model (a nested model), naming it and
    its layers: hls4ml 1.3 does not convert one either (its Keras 3 nested-model handler
    fails with "'IsolatedLayerReader' object has no attribute 'model'").
    """
    conf = layer.get("config", {})
    name = str(conf.get("name", "?"))
    inner = [
        f"{sub.get('config', {}).get('name', '?')} ({sub.get('class_name', '?')})"
        for sub in conf.get("layers", [])
        if sub.get("class_name") != "InputLayer"
    ]
    msg = (
        f"HGQ2 model: layer {name!r} is a nested {cls} model (layers: {', '.join(inner)}); "
        "nested models are not supported in HGQ2 models (hls4ml 1.3 does not convert them "
        "either); supported: a flat Sequential or functional model; build the outer model from the "
        "nested model's layers (h = layer(h) for each) instead of calling the nested model"
    )
    raise FrontendError(msg)


def convert(data: Arrays) -> Graph:
    """The IR of an exported HGQ2 model (`hepinfer.frontends.hgq2_export.export`)."""
    if "__model__" not in data or "__quantizers__" not in data:
        msg = (
            "not an exported HGQ2 model (no __model__ / __quantizers__ entries); write it with "
            "hepinfer.frontends.hgq2_export.export(model) or its script"
        )
        raise FrontendError(msg)
    model = json.loads(str(data["__model__"]))
    modes: dict[str, dict[str, dict[str, str]]] = json.loads(str(data["__quantizers__"]))
    extra: dict[str, Any] = json.loads(str(data["__extra__"])) if "__extra__" in data else {}
    config = model.get("config", {})
    converters: dict[str, Converter] = {}
    hgq: set[str] = set()
    for layer in config.get("layers", []):
        module, cls = str(layer.get("module") or ""), str(layer.get("class_name"))
        if cls in keras_frontend.NESTED:
            _refuse_nested(layer, cls)
        if not module.startswith("hgq."):
            continue
        name = str(layer["config"]["name"])
        if cls not in BASES:
            msg = (
                f"HGQ2 layer {name!r} of type {cls!r} is not supported; supported HGQ2 "
                f"types: {', '.join(sorted(BASES))}"
            )
            raise FrontendError(msg)
        if cls in ("QMultiHeadAttention", "QLinformerAttention"):
            _attention_call(layer, name, cls)
        hgq.add(name)
        layer["class_name"] = PREFIX + cls
        layer["config"][ACTIVATION] = layer["config"].pop("activation", None)
        converters[PREFIX + cls] = _converter(cls, data, modes, extra)
    cls = "Sequential" if model.get("class_name") == "Sequential" else "Functional"
    graph = keras_frontend.convert_config(
        {"class_name": cls, "config": config}, _weights(data, hgq), converters
    )
    return exact_types(graph)


def from_hgq2_model(model: Any) -> Graph:
    """Convert an in-memory HGQ2 Keras model (needs keras and hgq2)."""
    from hepinfer.frontends.hgq2_export import export

    return convert(export(model))


def load_hgq2(path: str | Path) -> Graph:
    """Convert an HGQ2 model: an exported `.npz`, or a `.keras` file (needs keras + hgq2)."""
    p = Path(path)
    if not p.is_file():
        msg = f"HGQ2 model file {p} does not exist"
        raise FrontendError(msg)
    if p.suffix == ".npz":
        with np.load(p) as f:
            return convert({k: f[k] for k in f.files})
    keras = keras_frontend.import_keras("loading HGQ2 models")
    try:
        importlib.import_module("hgq")  # registers HGQ2's layers with Keras
    except ImportError as exc:
        msg = (
            f"loading the HGQ2 model {p} needs the package 'hgq2' (pip install hgq2), which is "
            "not installed; or export it where HGQ2 is installed with the script "
            "hepinfer/frontends/hgq2_export.py and load the .npz it writes"
        )
        raise FrontendError(msg) from exc
    return from_hgq2_model(keras.models.load_model(str(p), compile=False))


__all__ = ["BASES", "convert", "exact_types", "from_hgq2_model", "input_type", "load_hgq2"]
