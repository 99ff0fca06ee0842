"""hls4ml's GarNet and GarNetStack Keras layers (`hls4ml.contrib.garnet`), read by class name
from Keras 2 JSON + HDF5 (the class is not needed), as hls4ml 1.3's Keras 2 handler reads
them (`hls4ml/converters/keras/graph.py`).

Supported as hls4ml supports them: `simplified=True`, `input_format='xn'` (vertex features
and the vertex count as two inputs), a linear output activation, `quantize_transforms`
either way (as hls4ml reads it: ternary transforms, `hepinfer.ops.garnet`), `collapse` None or 'mean' (a GarNetStack: 'mean', two or more sublayers), `mean_by_nvert`
either way (hls4ml's arithmetic for it: `hepinfer.ops.garnet`). The weights are the layer's six (per sublayer) arrays in the HDF5 order
`FLR_kernel, FLR_bias, S_kernel, S_bias, Fout_kernel, Fout_bias`.
"""

from __future__ import annotations

from typing import Any

from hepinfer.errors import FrontendError
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.frontends.keras_layers import Converter, LayerInfo
from hepinfer.ir.op import Op
from hepinfer.ops.garnet import PARTS


def _refuse(layer: LayerInfo, what: str) -> FrontendError:
    msg = (
        f"Keras layer {layer.name!r} ({layer.cls}) with {what} is not supported; hls4ml 1.3 "
        "and hepinfer support simplified=True, input_format='xn', output_activation None or "
        "'linear', collapse None or 'mean' (GarNetStack: 'mean', "
        "two or more sublayers)"
    )
    return FrontendError(msg)


def _check(layer: LayerInfo) -> None:
    cfg = layer.config
    checks: list[tuple[bool, str]] = [
        (bool(cfg.get("simplified", False)), f"simplified={cfg.get('simplified')!r}"),
        (
            cfg.get("input_format", "xn") == "xn",
            f"input_format={cfg.get('input_format')!r}",
        ),
        (
            cfg.get("output_activation") in (None, "linear"),
            f"output_activation={cfg.get('output_activation')!r}",
        ),
        (cfg.get("collapse") in (None, "mean"), f"collapse={cfg.get('collapse')!r}"),
    ]
    if layer.cls == "GarNetStack":
        checks += [
            (cfg.get("collapse") == "mean", f"collapse={cfg.get('collapse')!r}"),
            (int(cfg.get("n_sublayers", 0)) >= 2, f"n_sublayers={cfg.get('n_sublayers')!r}"),
        ]
    for ok, what in checks:
        if not ok:
            raise _refuse(layer, what)
    if len(layer.sources) != 2:
        msg = (
            f"Keras layer {layer.name!r} ({layer.cls}) reads {len(layer.sources)} input(s); "
            "input_format='xn' takes the vertex features and the vertex count"
        )
        raise FrontendError(msg)


def garnet(b: GraphBuilder, layer: LayerInfo) -> str:
    """GarNet / GarNetStack: one node with the Keras weights by name and hls4ml's settings."""
    _check(layer)
    cfg = layer.config
    n = int(cfg["n_sublayers"]) if layer.cls == "GarNetStack" else 1
    suffixes = [str(i) for i in range(n)] if layer.cls == "GarNetStack" else [""]
    if len(layer.weights) != 6 * n:
        msg = (
            f"Keras layer {layer.name!r} ({layer.cls}) has {len(layer.weights)} weight arrays "
            f"in the weights file; expected {6 * n} (FLR, S, Fout kernels and biases)"
        )
        raise FrontendError(msg)
    weights: dict[str, Any] = {}
    for i, suffix in enumerate(suffixes):
        for j, part in enumerate(PARTS):
            weights[f"{part}{suffix}_kernel"] = layer.weights[6 * i + 2 * j]
            weights[f"{part}{suffix}_bias"] = layer.weights[6 * i + 2 * j + 1]
    attrs: dict[str, Any] = {
        "n_vertices": int(b.shape(layer.sources[0])[0]),
        "collapse": "mean" if cfg.get("collapse") == "mean" else "none",
        "mean_by_nvert": bool(cfg.get("mean_by_nvert")),
        "quantize_transforms": bool(cfg.get("quantize_transforms")),
    }
    op = Op.GARNET
    if layer.cls == "GarNetStack":
        attrs["n_sublayers"] = n
        op = Op.GARNET_STACK
    return b.add(layer.name, op, layer.sources, attrs, weights)


GARNET_CONVERTERS: dict[str, Converter] = {"GarNet": garnet, "GarNetStack": garnet}
