"""Read an HGQ2 model's quantisers and quantised weights out of Keras (needs `keras` + `hgq2`).

This module imports nothing from hepinfer, so it also runs as a script in an environment that
has HGQ2 but not hepinfer (as the tests' HGQ2 peer does):

    KERAS_BACKEND=torch python hgq2_export.py model.keras model.hgq2.npz

`export(model)` returns plain arrays: `__model__` (the Keras model serialised to JSON, as in a
`.keras` file), `__quantizers__` (JSON: per layer, the rounding and overflow mode of each
quantiser), and per HGQ2 layer `<layer>/kernel`, `<layer>/bias` (the quantised values the
layer computes with, as hls4ml 1.3 reads them; QBatchNormalization's `<layer>/scale` and
`<layer>/offset`; QUnaryFunctionLUT's `<layer>/table` and `<layer>/table_kif`, the table
hls4ml 1.3 builds) and `<layer>/<iq|oq><n>/{k,i,f}` (each input /
output quantiser's per-element keep-sign, integer and fractional bits, rounded as HGQ2 rounds
them; a standalone `Quantizer` layer's as its `iq0`); QSoftmax's table quantisers as `<layer>/<exp|inv>_<iq|oq>/{k,i,f}`; a
QMultiHeadAttention's sublayers as layers `<layer>_<query|key|value|softmax|attention_output>`
(a QLinformerAttention's also `<layer>_lin_key`, `<layer>_lin_value`) and its equations in `__extra__` (JSON). `hepinfer.frontends.hgq2` turns that into hepinfer's
IR.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: weights of HGQ2 layers read through the layer's own quantised property (`q<name>`)
QUANTISED_WEIGHTS = ("kernel", "bias")


def _numpy(value: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _quantizers(layer: Any, attr: str, enabled: bool) -> list[Any]:
    if not enabled or not hasattr(layer, attr):
        return []
    q = getattr(layer, attr)
    return [q] if hasattr(q, "quantizer") else list(q)  # one, or HGQ2's MultipleQuantizers


def _quantizer(q: Any, where: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """A `hgq.quantizer.Quantizer`'s modes and per-element (k, i, f)."""
    inner = q.quantizer
    if not hasattr(inner, "kif"):
        msg = (
            f"{where}: quantiser {type(inner).__name__} is not a fixed-point quantiser; "
            "only HGQ2's fixed-point (kif, kbi) quantisers have fixed-point types"
        )
        raise ValueError(msg)
    k, i, f = (_numpy(a) for a in inner.kif)
    modes = {"round": str(inner.round_mode), "overflow": str(inner.overflow_mode)}
    return modes, {"k": k, "i": i, "f": f}


def _unary_table(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """QUnaryFunctionLUT's table as hls4ml 1.3 builds it: the activation on every value of
    the input quantiser's widest type (pruned elements left out), through the output
    quantiser, ordered by the values' bit patterns (non-negative first); and that type's
    (k, i, f).
    """
    kif = [_numpy(a) for a in layer.iq.quantizer.kif]
    live = kif[0] + kif[1] + kif[2] > 0
    k, i, f = (int(np.max(np.where(live, a, -32))) for a in kif)
    k = max(k, 0)
    n = (1 + k) * 2 ** (i + f)
    if n < 1 or n > 1 << 20:
        msg = f"layer {layer.name!r}: a table of {n} entries (k={k}, i={i}, f={f})"
        raise ValueError(msg)
    lo, eps = -k * 2.0**i, 2.0**-f
    grid = (lo + eps * np.arange(n)).astype(np.float32)
    table = layer.activation(grid)
    if layer.enable_oq:  # one type for all elements: the table as a batch of one element each
        rank = len(layer.output.shape)
        table = layer.oq(np.reshape(_numpy(table), (n,) + (1,) * (rank - 1)))
    values = _numpy(table).reshape(-1)
    if k:
        values = np.concatenate([values[n // 2 :], values[: n // 2]])
    return values, np.array([k, i, f], dtype=np.int64)


#: QSoftmax's table quantisers: (export tag, table attribute, quantiser attribute)
SOFTMAX_TABLES = (
    ("exp_iq", "exp_table", "iq"),
    ("exp_oq", "exp_table", "oq"),
    ("inv_iq", "inv_table", "iq"),
    ("inv_oq", "inv_table", "oq"),
)
#: QMultiHeadAttention's sublayers, exported as layers named `<layer>_<suffix>`
MHA_SUBLAYERS = (
    ("query", "_query_dense"),
    ("key", "_key_dense"),
    ("value", "_value_dense"),
    ("softmax", "_softmax"),
    ("attention_output", "_output_dense"),
)
#: QLinformerAttention's sequence projections of the key and value, exported likewise
LINFORMER_SUBLAYERS = (("lin_key", "_lin_k_proj"), ("lin_value", "_lin_v_proj"))


def _sublayers(layer: Any) -> list[tuple[str, str]]:
    """The (suffix, attribute) of the sublayers of a QMultiHeadAttention / QLinformerAttention."""
    extra = [s for s in LINFORMER_SUBLAYERS if hasattr(layer, s[1])]
    return [*extra, *MHA_SUBLAYERS]


def _layer(layer: Any, name: str, out: dict[str, np.ndarray]) -> dict[str, dict[str, str]]:
    """Write one HGQ2 layer's quantisers and quantised weights under `name`; its modes."""
    layer_modes: dict[str, dict[str, str]] = {}
    for attr, flag, tag in (("_iq", "_enable_iq", "iq"), ("_oq", "_enable_oq", "oq")):
        for n, q in enumerate(_quantizers(layer, attr, bool(getattr(layer, flag, False)))):
            m, arrays = _quantizer(q, f"layer {name!r} {tag}{n}")
            layer_modes[f"{tag}{n}"] = m
            for key, value in arrays.items():
                out[f"{name}/{tag}{n}/{key}"] = value
    for key in QUANTISED_WEIGHTS:
        held = getattr(layer, f"q{key}", None)
        if held is not None:
            out[f"{name}/{key}"] = _numpy(held)
    if type(layer).__name__ == "QUnaryFunctionLUT" and layer.enable_iq:
        out[f"{name}/table"], out[f"{name}/table_kif"] = _unary_table(layer)
    if hasattr(layer, "qscaler_and_qoffset"):  # QBatchNormalization, as hls4ml reads it
        scale, offset = layer.qscaler_and_qoffset
        out[f"{name}/scale"], out[f"{name}/offset"] = _numpy(scale), _numpy(offset)
    if hasattr(layer, "exp_table") and hasattr(layer, "inv_table"):  # QSoftmax
        for tag, table, part in SOFTMAX_TABLES:
            held = getattr(layer, table)
            if not getattr(held, f"enable_{part}", False):
                continue
            m, arrays = _quantizer(getattr(held, part), f"layer {name!r} {tag}")
            layer_modes[tag] = m
            for key, value in arrays.items():
                out[f"{name}/{tag}/{key}"] = value
    return layer_modes


def _attention(layer: Any) -> dict[str, Any]:
    """What a QMultiHeadAttention (or QLinformerAttention) computes beyond its sublayers (their
    configs).
    """
    subs = {}
    for suffix, attr in _sublayers(layer):
        sub = getattr(layer, attr)
        conf = {k: v for k, v in sub.get_config().items() if not k.endswith("_conf")}
        subs[suffix] = {"class_name": type(sub).__name__, "config": conf}
    return {
        "dot_product_equation": layer._dot_product_equation,
        "combine_equation": layer._combine_equation,
        "sublayers": subs,
    }


def export(model: Any) -> dict[str, np.ndarray]:
    """The arrays and JSON that describe `model` (see the module docstring)."""
    import keras

    out: dict[str, np.ndarray] = {}
    modes: dict[str, dict[str, dict[str, str]]] = {}
    extra: dict[str, Any] = {}
    for layer in model.layers:
        if not type(layer).__module__.startswith("hgq."):
            for n, w in enumerate(layer.get_weights()):
                out[f"{layer.name}/w{n}"] = np.asarray(w)
            continue
        if type(layer).__name__ == "Quantizer":  # standalone: its own quantiser as `iq0`
            m, arrays = _quantizer(layer, f"layer {layer.name!r}")
            modes[layer.name] = {"iq0": m}
            out.update({f"{layer.name}/iq0/{key}": value for key, value in arrays.items()})
            continue
        modes[layer.name] = _layer(layer, layer.name, out)
        if hasattr(layer, "_dot_product_equation"):  # QMultiHeadAttention
            extra[layer.name] = _attention(layer)
            for suffix, attr in _sublayers(layer):
                name = f"{layer.name}_{suffix}"
                modes[name] = _layer(getattr(layer, attr), name, out)
    config = keras.saving.serialize_keras_object(model)
    out["__model__"] = np.array(json.dumps(config, default=str))
    out["__quantizers__"] = np.array(json.dumps(modes))
    out["__extra__"] = np.array(json.dumps(extra, default=str))
    return out


def main(argv: list[str]) -> int:
    """`hgq2_export.py MODEL.keras OUT.npz`: load an HGQ2 model and write `export(model)`."""
    import keras

    if len(argv) != 2:
        sys.stderr.write("usage: hgq2_export.py MODEL.keras OUT.npz\n")
        return 2
    importlib.import_module("hgq")  # registers HGQ2's layers with Keras

    model = keras.models.load_model(argv[0], compile=False)
    savez: Any = np.savez
    savez(Path(argv[1]), **export(model))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
