"""Keras' own `MultiHeadAttention`, lowered as hls4ml 1.3 lowers HGQ2's QMultiHeadAttention.

hls4ml 1.3 converts only HGQ2's QMultiHeadAttention (its handler
`converters/keras_v3/hgq2/multi_head_attention.py`); Keras' layer computes the same graph in
float, so it becomes the same nodes (`hepinfer.frontends.hgq2`'s `_attention`):

- `<layer>_query`, `<layer>_key`, `<layer>_value`: EinsumDense projections with Keras'
  kernels of shape (features, num_heads, key_dim | value_dim) and biases (num_heads, dim);
- `<layer>_QK`: the Einsum of key and query (Keras' `_dot_product_equation`, key first);
- `<layer>_softmax`: hepinfer's Softmax (hls4ml's table softmax of a Keras Softmax layer, its
  tables configurable as for any Softmax) over the key axis, with `exp_scale` 1/sqrt(key_dim);
- `<layer>_aV`: the Einsum of the scores and the value (`_combine_equation`);
- `<layer>_attention_output`: the output EinsumDense (num_heads, value_dim, features).

The scale: Keras multiplies the projected query by 1/sqrt(key_dim) (in float32) before the
dot product; hls4ml's lowering moves it into the softmax (HGQ2's `input_scaler`: the exp
table holds `exp(-v / sqrt(key_dim))`), so that the query's type carries no extra scaling.
hepinfer does the same in fixed mode (the table) and in float mode computes
`softmax(s * (K . Q))` in float64, which equals Keras' `softmax((s * Q) . K)` up to float32
rounding (the test compares within 1e-5 relative). Each node takes its own hls4ml-style
`LayerName` entry (`<layer>_query` etc.), as hls4ml names them.

Keras 3 (in memory, `.keras`) and Keras 2 JSON + HDF5 (tf.keras writes the value and key as
keyword tensors of the inbound node, read here; weights `<layer>/query/kernel:0` etc. in
Keras' order). Supported: inputs of shape (sequence, features), query, value and key given by position (key
defaults to value: self-attention with the same tensor, cross-attention with another),
`value_dim` != `key_dim`, `use_bias` both ways, `dropout` (an identity at inference),
`output_shape` of one dimension. Refused by name: masks and other tensors given by keyword,
`return_attention_scores`, `use_causal_mask`, `use_gate`, `sliding_window`, `attention_axes`
other than the sequence axis, multi-dimensional `output_shape`, higher-rank inputs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from hepinfer.errors import FrontendError, GraphError
from hepinfer.frontends import keras_layers as kl
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.frontends.keras_layers import LayerInfo
from hepinfer.ir.op import Op
from hepinfer.ops import einsum as einsum_op

#: Keras' equations for (batch, sequence, features) inputs (`_build_attention_equation` and
#: `_build_proj_equation` with attention over axis 1)
PROJECTION = "abc,cde->abde"
DOT_PRODUCT = "aecd,abcd->acbe"
COMBINE = "acbe,aecd->abcd"
OUTPUT = "abcd,cde->abe"
#: the sub-layers in Keras' weight order (kernel, then bias when `use_bias`)
SUBLAYERS = ("query", "key", "value", "attention_output")

SUPPORTED = (
    "supported: query, value and key by position (key defaults to value) on inputs of shape "
    "(sequence, features), attention over the sequence axis, no masks, no attention scores, "
    "no causal mask, no gate, no sliding window, an output_shape of one dimension"
)


def _refuse(name: str, what: str) -> FrontendError:
    return FrontendError(f"Keras layer {name!r} (MultiHeadAttention): {what}; {SUPPORTED}")


#: the tensors a Keras 2 JSON passes by keyword, in the order of Keras' positional arguments
KEYWORD_INPUTS = ("value", "key")


def _ref(value: Any) -> bool:
    """Whether a Keras 2 keyword argument is a tensor reference `[name, node, tensor]`."""
    return isinstance(value, list | tuple) and len(value) >= 3 and isinstance(value[0], str)


def keyword_inputs(node: list[Any]) -> list[tuple[str, int]]:
    """The value and key a Keras 2 JSON inbound node passes by keyword (`[[query, 0, 0,
    {"value": [v, 0, 0], "key": [k, 0, 0]}]]`), as (layer name, tensor index).
    """
    kwargs = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    return [(str(kwargs[k][0]), int(kwargs[k][2])) for k in KEYWORD_INPUTS if _ref(kwargs.get(k))]


def check_call(layer: Mapping[str, Any], name: str) -> None:
    """Refuse a MultiHeadAttention call with tensors or options given by keyword (masks,
    `return_attention_scores`, `use_causal_mask`; in Keras 3 also `key=` / `value=`), which
    hls4ml 1.3 does not convert for QMultiHeadAttention either. Keras 2 JSON always passes
    the value (and the key) by keyword: those two are read (`keyword_inputs`).
    """
    for node in layer.get("inbound_nodes") or []:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            kwargs = dict(node.get("kwargs") or {})
        else:  # Keras 2: [[name, node, tensor, kwargs], ...]
            kwargs = {}
            for entry in node:
                if isinstance(entry, list | tuple) and len(entry) > 3:
                    kwargs.update(entry[3] or {})
            if len(node) != 1 or not _ref(kwargs.pop("value", None)):
                msg = "a Keras 2 call without the value by keyword (as tf.keras writes it)"
                raise _refuse(name, msg)
            if _ref(kwargs.get("key")):
                kwargs.pop("key")
        given = {
            k: v for k, v in kwargs.items() if k != "training" and v is not None and v is not False
        }
        if given:
            tensors = "__keras_tensor__" in json.dumps(given) or any(
                isinstance(v, list) for v in given.values()
            )
            kind = "tensors or options" if tensors else "options"
            msg = f"called with keyword {kind} {sorted(given)}"
            raise _refuse(name, msg)


def _check_config(layer: LayerInfo, query_shape: tuple[int, ...]) -> None:
    cfg = layer.config
    if len(query_shape) != 2:
        msg = f"an input of shape {query_shape} (rank {len(query_shape)} without the batch axis)"
        raise _refuse(layer.name, msg)
    axes = cfg.get("attention_axes")
    if axes is not None:
        axes = [axes] if isinstance(axes, int) else list(axes)
        if [int(a) % 3 for a in axes] != [1]:
            raise _refuse(layer.name, f"attention_axes={cfg.get('attention_axes')}")
    for key in ("use_gate", "sliding_window"):
        if cfg.get(key):
            raise _refuse(layer.name, f"{key}={cfg[key]!r}")
    out = cfg.get("output_shape")
    if out is not None and not isinstance(out, int) and len(list(out)) != 1:
        raise _refuse(layer.name, f"output_shape={out!r} of {len(list(out))} dimensions")


def multi_head_attention(b: GraphBuilder, layer: LayerInfo) -> str:
    """Keras' MultiHeadAttention as the nodes of hls4ml 1.3's QMultiHeadAttention lowering."""
    if not 2 <= len(layer.sources) <= 3:
        msg = f"{len(layer.sources)} positional inputs"
        raise _refuse(layer.name, msg)
    query = layer.sources[0]
    value = layer.sources[1]
    key = layer.sources[2] if len(layer.sources) > 2 else value
    _check_config(layer, b.shape(query))
    for src in (value, key):
        if len(b.shape(src)) != 2:
            raise _refuse(layer.name, f"a key/value input of shape {b.shape(src)}")
    use_bias = bool(layer.config.get("use_bias", True))
    per = 2 if use_bias else 1
    if len(layer.weights) != per * len(SUBLAYERS):
        msg = (
            f"{len(layer.weights)} weight arrays; expected {per * len(SUBLAYERS)} (kernel"
            f"{' and bias' if use_bias else ''} of query, key, value and output): save the "
            "model with its weights"
        )
        raise _refuse(layer.name, msg)
    weights = {s: layer.weights[per * n : per * (n + 1)] for n, s in enumerate(SUBLAYERS)}
    key_dim = int(layer.config.get("key_dim") or weights["query"][0].shape[-1])

    def dense(suffix: str, equation: str, bias_axes: str, source: str) -> str:
        conf = {"equation": equation, "bias_axes": bias_axes if use_bias else None}
        info = LayerInfo(
            f"{layer.name}_{suffix}", "EinsumDense", conf, [source], list(weights[suffix])
        )
        return kl.einsum_dense(b, info)

    def einsum(suffix: str, equation: str, sources: list[str]) -> str:
        stripped = einsum_op.strip_batch(equation)
        shapes = [b.shape(s) for s in sources]
        try:
            attrs = einsum_op.node_attrs(stripped, shapes[0], shapes[1])
        except GraphError as exc:
            raise _refuse(layer.name, str(exc)) from exc
        return b.add(f"{layer.name}_{suffix}", Op.EINSUM, sources, attrs)

    q = dense("query", PROJECTION, "de", query)
    k = dense("key", PROJECTION, "de", key)
    v = dense("value", PROJECTION, "de", value)
    scores = einsum("QK", DOT_PRODUCT, [k, q])
    scale = {"exp_scale": 1.0 / math.sqrt(float(key_dim))}
    probs = b.add(f"{layer.name}_softmax", Op.SOFTMAX, [scores], scale)
    combined = einsum("aV", COMBINE, [probs, v])
    return dense("attention_output", OUTPUT, "e", combined)


#: the Keras class this module converts (looked up by `hepinfer.frontends.keras`)
MHA_CONVERTERS = {"MultiHeadAttention": multi_head_attention}

__all__ = ["MHA_CONVERTERS", "check_call", "keyword_inputs", "multi_head_attention"]
