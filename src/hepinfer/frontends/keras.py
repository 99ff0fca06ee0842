"""Keras frontend: Keras 2 JSON + HDF5 weights (read with json + h5py, no TensorFlow), and
Keras 3 model objects / `.keras` files (through `keras`, imported lazily).

Layouts stay channels-last, like Keras. A Dense/Conv layer with a non-linear `activation`
becomes two nodes, the layer and `<name>_<activation>`, as in hls4ml, so that per-layer
configurations carry over name for name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FrontendError, MissingDependencyError
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.frontends.keras_garnet import GARNET_CONVERTERS
from hepinfer.frontends.keras_layers import CONVERTERS, RECURRENT, LayerInfo
from hepinfer.frontends.keras_qlayers import (
    QKERAS_CONVERTERS,
    QKERAS_RECURRENT,
    QKERAS_REFUSED,
    split_activation,
)
from hepinfer.ir.graph import Graph

FloatArray = npt.NDArray[np.floating[Any]]


def _history_names(obj: Any, out: list[str]) -> None:
    """Collect Keras 3 `keras_history` layer names from nested inbound-node arguments."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            out.append(str(obj["config"]["keras_history"][0]))
            return
        for value in obj.values():
            _history_names(value, out)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _history_names(value, out)


def _inbound(layer: Mapping[str, Any]) -> list[str]:
    nodes = layer.get("inbound_nodes") or []
    if not nodes:
        return []
    first = nodes[0]
    if isinstance(first, dict):  # Keras 3
        names: list[str] = []
        _history_names(first.get("args", []), names)
        return names
    return [str(entry[0]) for entry in first]  # Keras 2: [[name, node, tensor, kwargs], ...]


def _layer_list(model_config: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]], bool]:
    cls = model_config.get("class_name", "")
    config = model_config.get("config", {})
    layers = config if isinstance(config, list) else config.get("layers", [])
    name = "model" if isinstance(config, list) else str(config.get("name", "model"))
    if cls not in ("Model", "Functional", "Sequential"):
        msg = (
            f"Keras model class {cls!r} is not supported; expected Sequential or a functional Model"
        )
        raise FrontendError(msg)
    return name, list(layers), cls == "Sequential"


def _layer_name(layer: Mapping[str, Any]) -> str:
    return str(layer.get("name") or layer["config"]["name"])


def _input_shape(config: Mapping[str, Any]) -> list[int] | None:
    shape = config.get("batch_input_shape") or config.get("batch_shape")
    return None if shape is None else [int(d) for d in shape[1:]]


def convert_config(
    model_config: Mapping[str, Any],
    weights: Callable[[str], list[FloatArray]],
    converters: Mapping[str, Any] | None = None,
) -> Graph:
    """Convert a Keras model config (the JSON structure) with a per-layer weight getter;
    `converters` (class name -> converter) come before the Keras and QKeras ones.
    """
    name, layers, sequential = _layer_list(model_config)
    builder = GraphBuilder(name)
    produced: dict[str, str] = {}  # keras layer name -> IR node name of its output
    previous: str | None = None
    for layer in layers:
        cls = str(layer["class_name"])
        config = layer["config"]
        lname = _layer_name(layer)
        if cls == "InputLayer":
            shape = _input_shape(config)
            if shape is None:
                msg = f"InputLayer {lname!r} has no batch_input_shape/batch_shape"
                raise FrontendError(msg)
            previous = produced[lname] = builder.input(lname, shape)
            continue
        if sequential:
            if previous is None:
                shape = _input_shape(config)
                if shape is None:
                    msg = f"Sequential model: first layer {lname!r} declares no input shape"
                    raise FrontendError(msg)
                previous = builder.input(f"{lname}_input", shape)
            sources = [previous]
        else:
            sources = [produced[s] for s in _inbound(layer)]
        converter = (
            (converters or {}).get(cls)
            or QKERAS_CONVERTERS.get(cls)
            or GARNET_CONVERTERS.get(cls)
            or CONVERTERS.get(cls)
        )
        if cls in QKERAS_REFUSED:
            msg = f"Keras layer {lname!r} of type {cls!r} is not supported: {QKERAS_REFUSED[cls]}"
            raise FrontendError(msg)
        if converter is None:
            msg = (
                f"Keras layer {lname!r} of type {cls!r} is not supported; supported types: "
                f"InputLayer, {', '.join(sorted({*CONVERTERS, *QKERAS_CONVERTERS, *GARNET_CONVERTERS}))}"
            )
            raise FrontendError(msg)
        info = LayerInfo(lname, cls, dict(config), sources, weights(lname))
        out = converter(builder, info)
        if cls != "QActivation" and (quantised := split_activation(builder, info, out)):
            previous = produced[lname] = quantised
            continue
        activation = config.get("activation")
        unsplit = ("Activation", "QActivation", *RECURRENT, *QKERAS_RECURRENT)
        split = cls not in unsplit and isinstance(activation, str)
        if split and activation != "linear":
            out = builder.activation(f"{lname}_{activation}", str(activation), out)
        previous = produced[lname] = out
    if sequential:
        outputs = [previous] if previous is not None else []
    else:
        raw = model_config["config"].get("output_layers", [])
        if raw and isinstance(raw[0], str):  # Keras 3 writes a single output unnested
            raw = [raw]
        outputs = [produced[str(o[0])] for o in raw]
    return builder.build(outputs)


def _h5_weights(path: Path) -> Callable[[str], list[FloatArray]]:
    try:
        import h5py
    except ImportError as exc:
        msg = "h5py"
        raise MissingDependencyError(msg, "compile", "reading Keras HDF5 weights") from exc
    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        table: dict[str, list[FloatArray]] = {}
        for lname in root:
            group = root[lname]
            names = [
                n.decode() if isinstance(n, bytes) else str(n)
                for n in group.attrs.get("weight_names", [])
            ]
            table[lname] = [np.asarray(group[n]) for n in names]  # native dtype, like Keras
    return lambda name: table.get(name, [])


def load_json_h5(json_path: str | Path, h5_path: str | Path) -> Graph:
    """Convert a Keras 2 model saved as architecture JSON + HDF5 weights."""
    json_path, h5_path = Path(json_path), Path(h5_path)
    for p in (json_path, h5_path):
        if not p.is_file():
            msg = f"Keras model file {p} does not exist"
            raise FrontendError(msg)
    try:
        model_config = json.loads(json_path.read_text())
    except json.JSONDecodeError as exc:
        msg = f"{json_path} is not valid JSON ({exc}); expected a Keras model.to_json() file"
        raise FrontendError(msg) from exc
    return _convert_file(model_config, _h5_weights(h5_path))


def _convert_file(
    model_config: Mapping[str, Any], weights: Callable[[str], list[FloatArray]]
) -> Graph:
    """A Keras 2 model read from files: an HGQ 1 proxy model through `hgq1`."""
    from hepinfer.frontends import hgq1

    if hgq1.is_proxy(model_config):
        return hgq1.convert(model_config, weights)
    return convert_config(model_config, weights)


def find_weights(json_path: Path) -> Path:
    """The HDF5 weights file that goes with a Keras JSON file (`X.json` -> `X_weights.h5`)."""
    for cand in (json_path.with_name(json_path.stem + "_weights.h5"), json_path.with_suffix(".h5")):
        if cand.is_file():
            return cand
    msg = f"no weights file found next to {json_path} (tried {json_path.stem}_weights.h5, .h5)"
    raise FrontendError(msg)


def from_keras_model(model: Any) -> Graph:
    """Convert an in-memory Keras 3 model object."""
    by_name = {layer.name: layer for layer in model.layers}

    def weights(name: str) -> list[FloatArray]:
        layer = by_name.get(name)
        return [] if layer is None else [np.asarray(w) for w in layer.get_weights()]

    config = {"class_name": type(model).__name__, "config": model.get_config()}
    if config["class_name"] != "Sequential":
        config["class_name"] = "Functional"
    graph = convert_config(config, weights)
    if not graph.inputs and model.inputs:
        msg = "Keras model has no input layer"
        raise FrontendError(msg)
    return graph


#: Keras 3 backends, in the order one is chosen when KERAS_BACKEND is unset
BACKENDS = ("torch", "jax", "tensorflow")
_EXTRA = {"torch": "torch", "tensorflow": "tf", "jax": "keras"}


def import_keras(feature: str = "loading .keras files") -> Any:
    """Import Keras 3 with a backend that is installed.

    Keras defaults to TensorFlow and fails to import without it, although `pip install
    keras` does not install it. When `KERAS_BACKEND` is unset and Keras is not imported yet,
    the first installed of torch, jax, tensorflow is chosen (logged); when none is, the error
    names the missing backend.
    """
    import importlib.util
    import logging
    import os
    import sys

    if importlib.util.find_spec("keras") is None:
        msg = "keras"
        raise MissingDependencyError(msg, "keras", feature)
    backend = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules and not backend:
        found = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
        if not found:
            msg = (
                f"{feature}: Keras 3 is installed but none of its backends ({', '.join(BACKENDS)}) "
                "is; install one, e.g. pip install 'hepinfer[torch]' (or jax, tensorflow), "
                "or set KERAS_BACKEND to an installed one"
            )
            raise FrontendError(msg)
        backend = os.environ["KERAS_BACKEND"] = found[0]
        logging.getLogger(__name__).info("KERAS_BACKEND unset: using the %s backend", backend)
    try:
        import keras
    except ImportError as exc:
        missing = backend or "tensorflow"
        raise MissingDependencyError(
            missing, _EXTRA.get(missing, "keras"), f"{feature} (Keras backend {missing!r})"
        ) from exc
    return keras


def load_keras_file(path: str | Path) -> Graph:
    """Convert a Keras 3 `.keras` file (loaded with keras)."""
    keras = import_keras()
    model = keras.models.load_model(str(path), compile=False)
    return from_keras_model(model)


def load_h5_model(path: str | Path) -> Graph:
    """Convert a full-model Keras HDF5 file (`model.save('m.h5')`, Keras 2 or 3's legacy
    format): the architecture from its `model_config` attribute, the weights from
    `model_weights`, read with h5py (no Keras, no backend needed).
    """
    p = Path(path)
    if not p.is_file():
        msg = f"Keras model file {p} does not exist"
        raise FrontendError(msg)
    try:
        import h5py
    except ImportError as exc:
        msg = "h5py"
        raise MissingDependencyError(msg, "compile", "reading Keras HDF5 models") from exc
    try:
        with h5py.File(p, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as exc:
        msg = f"{p} is not an HDF5 file ({exc})"
        raise FrontendError(msg) from exc
    if raw is None:
        msg = (
            f"{p} holds weights only (no model_config); pass the architecture JSON next to it "
            f"(X.json with X_weights.h5 or X.h5), or save the whole model with model.save('m.h5')"
        )
        raise FrontendError(msg)
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return _convert_file(json.loads(text), _h5_weights(p))


__all__ = [
    "BACKENDS",
    "convert_config",
    "find_weights",
    "from_keras_model",
    "import_keras",
    "load_h5_model",
    "load_json_h5",
    "load_keras_file",
]
