"""HGQ 1 frontend: proxy models of HGQ 0.2.6 (`HGQ.proxy.to_proxy_model`), read without HGQ.

A proxy model is a plain Keras 2 model (saved as `model.to_json()` + `save_weights`, or
`model.save('m.h5')`) of Keras layers with already quantised weights (Dense, Conv1D/2D, ReLU,
pooling, Flatten, ...) between HGQ's own layers, read here by class name as hls4ml 1.3's
handlers read them (`hls4ml/converters/keras/hgq_proxy_model.py`):

- `FixedPointQuantizer` (also `HGQ>FixedPointQuantizer`): weights `keep_negative`, `bits`,
  `integers` (one per element, with a leading batch axis of 1, or one for the whole tensor),
  config `RND` and `SAT`. Element j becomes `ap_fixed<bits, integers, AP_<RND>, AP_<SAT>>`
  (`ap_ufixed` when `keep_negative` is 0), 0 where `bits` is 0: hepinfer's
  `FixedPointQuantizer` op with `k = keep_negative`, `i = integers - k`, `f = bits - integers`.
  Its `overrides` (`{"layers": {name: {key: value}}}`) set the named layer's
  `parallelization_factor` (a convolution's; the configuration's own value wins); keys that
  end in `_t` are types, which the bit-exact flow sets anyway (as hls4ml ignores them).
- `UnaryLUT` (also `HGQ>UnaryLUT`): weight `table` (`2**(k+i+f)` values already quantised to
  `kif_out`), indexed by the input's bits at `kif_in`'s fractional bits: hepinfer's `UnaryLUT`
  op with `index_frac = kif_in[2]`.

Between quantisers nothing is lost, as in HGQ and in hls4ml 1.3's bit-exact flow: every other
node is marked `bit_exact` and inputs read by quantisers get hls4ml's input type, exactly as
for HGQ2 models (`hepinfer.frontends.hgq2`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hepinfer.errors import FrontendError
from hepinfer.frontends import keras as keras_frontend
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.frontends.hgq2 import exact_types
from hepinfer.frontends.keras_layers import Converter, LayerInfo
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.ops import fixed_point_quantizer as fpq
from hepinfer.ops import parallelization

Weights = Callable[[str], list[Any]]

QUANTIZERS = ("FixedPointQuantizer", "HGQ>FixedPointQuantizer")
LUTS = ("UnaryLUT", "HGQ>UnaryLUT")
#: the HGQ 1 layer classes a proxy model holds besides plain Keras layers
CLASSES = frozenset({*QUANTIZERS, *LUTS})


def is_proxy(model_config: Mapping[str, Any]) -> bool:
    """Whether a Keras model config holds HGQ 1 proxy layers."""
    config = model_config.get("config", {})
    layers = config if isinstance(config, list) else config.get("layers", [])
    return any(str(layer.get("class_name")) in CLASSES for layer in layers)


def _per_element(layer: LayerInfo, what: str, a: Any, shape: tuple[int, ...]) -> np.ndarray:
    stored = arr = np.asarray(a, dtype=np.int64)
    if arr.ndim == len(shape) + 1 and arr.shape[0] == 1:
        arr = arr[0]  # HGQ keeps a batch axis of 1
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        msg = (
            f"HGQ FixedPointQuantizer {layer.name!r}: its {what} of shape {stored.shape} does not "
            f"fit the tensor of shape {shape}; save the proxy model from "
            "HGQ.proxy.to_proxy_model unchanged"
        )
        raise FrontendError(msg) from None


def quantizer(b: GraphBuilder, layer: LayerInfo) -> str:
    """A `FixedPointQuantizer` layer as hepinfer's op (per-element k, i, f)."""
    if len(layer.weights) != 3:
        msg = (
            f"HGQ FixedPointQuantizer {layer.name!r} has {len(layer.weights)} weights; it needs "
            "keep_negative, bits and integers (in that order, as HGQ 0.2.6 saves them)"
        )
        raise FrontendError(msg)
    rnd, sat = str(layer.config.get("RND", "TRN")), str(layer.config.get("SAT", "WRAP"))
    if rnd not in fpq.ROUND_MODES or sat not in fpq.OVERFLOW_MODES:
        msg = (
            f"HGQ FixedPointQuantizer {layer.name!r}: RND={rnd!r}, SAT={sat!r} is not supported; "
            f"supported RND {sorted(fpq.ROUND_MODES)}, SAT {sorted(fpq.OVERFLOW_MODES)} (the "
            "modes to_proxy_model writes)"
        )
        raise FrontendError(msg)
    (source,) = layer.sources
    shape = b.shape(source)
    k, bits, integers = (
        _per_element(layer, what, a, shape)
        for what, a in zip(("keep_negative", "bits", "integers"), layer.weights, strict=True)
    )
    if np.any((k != 0) & (k != 1)) or np.any(bits < 0):
        msg = (
            f"HGQ FixedPointQuantizer {layer.name!r}: keep_negative must be 0 or 1 and bits "
            f"non-negative, got keep_negative {np.unique(k).tolist()}, bits {np.unique(bits).tolist()}"
        )
        raise FrontendError(msg)
    live = bits > 0  # bits 0: the element is 0 (HGQ multiplies by bits != 0)
    arrays = {
        "k": np.where(live, k, 0).astype(np.float64),
        "i": np.where(live, integers - k, 0).astype(np.float64),
        "f": np.where(live, bits - integers, 0).astype(np.float64),
    }
    return b.add(
        layer.name, Op.FIXED_POINT_QUANTIZER, [source], {"round": rnd, "overflow": sat}, arrays
    )


def unary_lut(b: GraphBuilder, layer: LayerInfo) -> str:
    """A `UnaryLUT` layer: its table, indexed by the input's bits at `kif_in`."""
    kif_in = layer.config.get("kif_in")
    if not layer.weights or not isinstance(kif_in, list | tuple) or len(kif_in) != 3:
        msg = (
            f"HGQ UnaryLUT {layer.name!r} needs its table weight and kif_in [k, i, f] in its "
            f"config (got {len(layer.weights)} weights, kif_in {kif_in!r})"
        )
        raise FrontendError(msg)
    table = np.asarray(layer.weights[0], dtype=np.float64).ravel()
    k, i, f = (int(v) for v in kif_in)
    if table.size != 2 ** (k + i + f):
        msg = (
            f"HGQ UnaryLUT {layer.name!r}: its table has {table.size} entries, kif_in {kif_in} "
            f"needs 2**{k + i + f}; save the proxy model from HGQ.proxy.to_proxy_model unchanged"
        )
        raise FrontendError(msg)
    return b.add(layer.name, Op.UNARY_LUT, layer.sources, {"index_frac": f}, {"table": table})


CONVERTERS: dict[str, Converter] = {
    **dict.fromkeys(QUANTIZERS, quantizer),
    **dict.fromkeys(LUTS, unary_lut),
}


def _overrides(model_config: Mapping[str, Any]) -> dict[str, int]:
    """The layers' parallelization factors that the quantisers' `overrides` embed."""
    config = model_config.get("config", {})
    layers = config if isinstance(config, list) else config.get("layers", [])
    found: dict[str, int] = {}
    for layer in layers:
        if str(layer.get("class_name")) not in QUANTIZERS:
            continue
        overrides = layer.get("config", {}).get("overrides") or {}
        for name, conf in (overrides.get("layers") or {}).items():
            if "parallelization_factor" in conf:
                found[str(name)] = int(conf["parallelization_factor"])
    return found


def convert(model_config: Mapping[str, Any], weights: Weights) -> Graph:
    """The IR of an HGQ 1 proxy model (its Keras 2 config and a per-layer weight getter)."""
    graph = keras_frontend.convert_config(model_config, weights, CONVERTERS)
    factors = _overrides(model_config)
    if factors:
        nodes = []
        for node in graph.nodes:
            pf = factors.get(node.name)
            if pf is not None and node.op in parallelization.OPS:
                valid = parallelization.resolve(node.name, pf, parallelization.positions(node))
                nodes.append(node.replace(attrs={**node.attrs, "parallelization_factor": valid}))
            else:
                nodes.append(node)
        graph = graph.with_nodes(nodes)
    return exact_types(graph)


__all__ = ["CLASSES", "CONVERTERS", "convert", "is_proxy", "quantizer", "unary_lut"]
