"""Keras frontend: Keras 2 JSON + HDF5 weights (read with json + h5py, no TensorFlow), and
Keras 3 model objects / `.keras` files (through `keras`, imported lazily).

Layouts stay channels-last, like Keras. A Dense/Conv layer with a non-linear `activation`
becomes two nodes, the layer and `<name>_<activation>`, as in hls4ml, so that per-layer
configurations carry over name for name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FrontendError, MissingDependencyError
from hepinfer.frontends.builder import GraphBuilder, clean_name
from hepinfer.frontends.keras_garnet import GARNET_CONVERTERS
from hepinfer.frontends.keras_layers import CONVERTERS, RECURRENT, LayerInfo
from hepinfer.frontends.keras_mha import MHA_CONVERTERS, check_call, keyword_inputs
from hepinfer.frontends.keras_qlayers import (
    QKERAS_CONVERTERS,
    QKERAS_RECURRENT,
    QKERAS_REFUSED,
    split_activation,
)
from hepinfer.ir.graph import Graph

FloatArray = npt.NDArray[np.floating[Any]]


def _history_refs(obj: Any, out: list[tuple[str, int]]) -> None:
    """Collect Keras 3 `keras_history` (layer name, tensor index) from inbound-node arguments."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            history = obj["config"]["keras_history"]
            out.append((str(history[0]), int(history[2]) if len(history) > 2 else 0))
            return
        for value in obj.values():
            _history_refs(value, out)
    elif isinstance(obj, list | tuple):
        for value in obj:
            _history_refs(value, out)


def _inbound(layer: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (layer name, output tensor index) pairs a functional model's layer reads."""
    nodes = layer.get("inbound_nodes") or []
    if not nodes:
        return []
    first = nodes[0]
    if isinstance(first, dict):  # Keras 3
        refs: list[tuple[str, int]] = []
        _history_refs(first.get("args", []), refs)
        return refs
    # Keras 2: [[name, node, tensor, kwargs], ...]
    refs = [(str(entry[0]), int(entry[2]) if len(entry) > 2 else 0) for entry in first]
    if layer.get("class_name") in MHA_CONVERTERS:  # its value and key: keyword tensors
        refs += keyword_inputs(first)
    return refs


def _layer_list(model_config: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]], bool]:
    cls = model_config.get("class_name", "")
    config = model_config.get("config", {})
    layers = config if isinstance(config, list) else config.get("layers", [])
    name = "model" if isinstance(config, list) else str(config.get("name", "model"))
    if cls not in NESTED:
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


WeightGetter = Callable[[str], list[FloatArray]]
#: Keras model classes; one of them used as a layer is a nested model, inlined
NESTED = ("Model", "Functional", "Sequential")


@runtime_checkable
class NestedWeights(Protocol):
    """A weight getter that also gives the getter of a nested model's layers."""

    def __call__(self, name: str) -> list[FloatArray]: ...

    def nested(self, name: str) -> WeightGetter: ...


def _refs(value: Any) -> list[tuple[str, int]]:
    """A functional config's `input_layers`/`output_layers` as (layer, tensor index) pairs
    (Keras 3 writes a single entry unnested).
    """
    if not value:
        return []
    if isinstance(value[0], str):
        value = [value]
    return [(str(v[0]), int(v[2]) if len(v) > 2 else 0) for v in value]


def convert_config(
    model_config: Mapping[str, Any],
    weights: WeightGetter,
    converters: Mapping[str, Any] | None = None,
) -> Graph:
    """Convert a Keras model config (the JSON structure) with a per-layer weight getter;
    `converters` (class name -> converter) come before the Keras and QKeras ones.

    A Sequential or functional model used as a layer (at any depth) is inlined: its layers
    keep their own names, as hls4ml 1.3 names them, unless the name is taken by a layer of
    an enclosing model or an earlier node (then `<nested model>_<name>`); their nodes carry
    the attribute `nested` (the nested models' names, outermost first). Its weights come
    from `weights.nested(name)` when the getter has it (`NestedWeights`), else from
    `weights` by the inner layers' names.
    """
    name = _layer_list(model_config)[0]
    builder = GraphBuilder(name)
    outputs = _Scope(builder, weights, converters or {}, None, frozenset()).convert(model_config)
    return builder.build(outputs)


@dataclass(frozen=True)
class _Scope:
    """The layers of one (possibly nested) model: `inputs` None at the top level (its
    InputLayers become graph inputs), else the node names its inputs are bound to.
    """

    builder: GraphBuilder
    weights: WeightGetter
    converters: Mapping[str, Any]
    inputs: list[str] | None
    reserved: frozenset[str]
    prefix: str = ""
    #: the names of the nested models this scope is inside, outermost first
    path: tuple[str, ...] = ()

    def convert(self, model_config: Mapping[str, Any]) -> list[str]:
        """Add the model's layers; returns its output node names."""
        name, layers, sequential = _layer_list(model_config)
        builder = self.builder
        produced: dict[str, list[str]] = {}  # keras layer name -> IR node names of its outputs
        reserved = self.reserved | {clean_name(_layer_name(layer)) for layer in layers}
        bound = self._bind(model_config, layers, sequential)
        previous: str | None = None
        for layer in layers:
            cls = str(layer["class_name"])
            config = layer["config"]
            lname = _layer_name(layer)
            if len(layer.get("inbound_nodes") or []) > 1:
                msg = (
                    f"Keras layer {lname!r} of type {cls!r} is called "
                    f"{len(layer['inbound_nodes'])} times in model {name!r} (shared weights); "
                    "hepinfer converts each layer once: give each call its own layer (for a "
                    "nested model, e.g. keras.models.clone_model, then copy the weights)"
                )
                raise FrontendError(msg)
            if cls == "InputLayer":
                if lname in bound:
                    previous = bound[lname]
                else:
                    shape = _input_shape(config)
                    if shape is None:
                        msg = f"InputLayer {lname!r} has no batch_input_shape/batch_shape"
                        raise FrontendError(msg)
                    previous = builder.input(lname, shape)
                produced[lname] = [previous]
                continue
            if sequential:
                if previous is None:
                    previous = self._first_input(lname, config)
                sources = [previous]
            else:
                sources = [self._source(produced, ref, lname) for ref in _inbound(layer)]
            if self.inputs is not None and (
                builder.has(clean_name(lname)) or clean_name(lname) in self.reserved
            ):
                lname = f"{self.prefix}_{lname}"  # keep node names unique
            if cls in NESTED and isinstance(config, dict | list) and _has_layers(config):
                outs = self._nested(layer, lname, sources, reserved)
                if sequential and len(outs) != 1:
                    msg = (
                        f"nested Keras model {lname!r} has {len(outs)} outputs; in a "
                        f"Sequential model ({name!r}) a layer must have one: use a "
                        "functional model"
                    )
                    raise FrontendError(msg)
                produced[_layer_name(layer)] = outs
                previous = outs[0]
                continue
            first = len(builder.nodes)
            out = self._layer(layer, lname, sources)
            for node in builder.nodes[first:] if self.path else []:
                builder.replace(node.replace(attrs={**node.attrs, "nested": self.path}))
            previous = out
            produced[_layer_name(layer)] = [out]
        if sequential:
            return [previous] if previous is not None else []
        raw = model_config["config"].get("output_layers", [])
        return [self._source(produced, ref, name) for ref in _refs(raw)]

    def _bind(
        self, model_config: Mapping[str, Any], layers: list[dict[str, Any]], sequential: bool
    ) -> dict[str, str]:
        """A nested model's InputLayer names -> the node names bound to them."""
        if self.inputs is None:
            return {}
        config = model_config.get("config", {})
        if sequential or not isinstance(config, dict) or "input_layers" not in config:
            names = [_layer_name(x) for x in layers if x["class_name"] == "InputLayer"][:1]
        else:
            names = [ref[0] for ref in _refs(config["input_layers"])]
        if names and len(names) != len(self.inputs):
            msg = (
                f"nested Keras model {self.prefix!r} has {len(names)} inputs "
                f"({', '.join(names)}) but is called on {len(self.inputs)} tensors"
            )
            raise FrontendError(msg)
        return dict(zip(names, self.inputs, strict=False))

    def _first_input(self, lname: str, config: Mapping[str, Any]) -> str:
        """The input of a Sequential model's first layer when it has no InputLayer."""
        if self.inputs is not None:
            return self.inputs[0]
        shape = _input_shape(config)
        if shape is None:
            msg = f"Sequential model: first layer {lname!r} declares no input shape"
            raise FrontendError(msg)
        return self.builder.input(f"{lname}_input", shape)

    def _source(self, produced: dict[str, list[str]], ref: tuple[str, int], where: str) -> str:
        outs = produced.get(ref[0], [])
        if ref[1] >= len(outs):
            msg = (
                f"Keras layer {where!r} reads output {ref[1]} of layer {ref[0]!r}, which "
                f"has {len(outs)} outputs (or is not defined before it)"
            )
            raise FrontendError(msg)
        return outs[ref[1]]

    def _nested(
        self, layer: Mapping[str, Any], lname: str, sources: list[str], reserved: frozenset[str]
    ) -> list[str]:
        """Inline a nested Sequential or functional model (`reserved`: the names of the
        enclosing models' layers, which its layers must not take).
        """
        keras_name = _layer_name(layer)
        weights = self.weights
        sub_weights = weights.nested(keras_name) if isinstance(weights, NestedWeights) else weights
        scope = _Scope(
            self.builder,
            sub_weights,
            self.converters,
            sources,
            reserved,
            clean_name(lname),
            (*self.path, keras_name),
        )
        outs = scope.convert(layer)
        if not outs:
            msg = f"nested Keras model {keras_name!r} has no layers"
            raise FrontendError(msg)
        return outs

    def _layer(self, layer: Mapping[str, Any], lname: str, sources: list[str]) -> str:
        """Convert one (non-model) layer; returns its output node name."""
        builder = self.builder
        cls = str(layer["class_name"])
        config = layer["config"]
        converter = (
            self.converters.get(cls)
            or QKERAS_CONVERTERS.get(cls)
            or GARNET_CONVERTERS.get(cls)
            or MHA_CONVERTERS.get(cls)
            or CONVERTERS.get(cls)
        )
        if cls in QKERAS_REFUSED:
            msg = f"Keras layer {lname!r} of type {cls!r} is not supported: {QKERAS_REFUSED[cls]}"
            raise FrontendError(msg)
        if converter is None:
            msg = (
                f"Keras layer {lname!r} of type {cls!r} is not supported; supported types: "
                f"InputLayer, Sequential and functional models, "
                f"{', '.join(sorted({*CONVERTERS, *QKERAS_CONVERTERS, *GARNET_CONVERTERS, *MHA_CONVERTERS}))}"
            )
            raise FrontendError(msg)
        if cls in MHA_CONVERTERS:
            check_call(layer, lname)
        info = LayerInfo(lname, cls, dict(config), sources, self.weights(_layer_name(layer)))
        out: str = converter(builder, info)
        if cls != "QActivation" and (quantised := split_activation(builder, info, out)):
            return quantised
        activation = config.get("activation")
        unsplit = ("Activation", "QActivation", *RECURRENT, *QKERAS_RECURRENT)
        split = cls not in unsplit and isinstance(activation, str)
        if split and activation != "linear":
            out = builder.activation(f"{lname}_{activation}", str(activation), out)
        return out


def _has_layers(config: Any) -> bool:
    return isinstance(config, list) or "layers" in config


@dataclass(frozen=True)
class H5Weights:
    """Weights of a Keras HDF5 file by layer name; `nested(name)` those of a nested model's
    layers. A nested model's weights are all in the group of its top-level layer, at any
    depth (Keras 2: `<inner layer>/kernel:0`, one level deep as hls4ml's
    KerasNestedFileReader reads them; Keras 3's legacy `.h5`: `<model>/<inner layer>/kernel`):
    an inner layer's are those whose path names it.
    """

    table: Mapping[str, list[FloatArray]]
    paths: Mapping[str, list[tuple[str, FloatArray]]]
    #: the top-level nested model whose group this getter reads (None: the top level)
    within: str | None = None

    def __call__(self, name: str) -> list[FloatArray]:
        """The layer's weights in Keras' order (none when the file has none)."""
        if self.within is None:
            return list(self.table.get(name, []))
        entries = self.paths.get(self.within, [])
        return [value for path, value in entries if name in path.split("/")[:-1]]

    def nested(self, name: str) -> WeightGetter:
        """The getter of the layers of the nested model `name` (any depth)."""
        return self if self.within is not None else H5Weights(self.table, self.paths, name)


def _h5_weights(path: Path) -> H5Weights:
    try:
        import h5py
    except ImportError as exc:
        msg = "h5py"
        raise MissingDependencyError(msg, "compile", "reading Keras HDF5 weights") from exc
    with h5py.File(path, "r") as f:
        root = f.get("model_weights", f)
        table: dict[str, list[FloatArray]] = {}
        paths: dict[str, list[tuple[str, FloatArray]]] = {}
        for lname in root:
            group = root[lname]
            names = [
                n.decode() if isinstance(n, bytes) else str(n)
                for n in group.attrs.get("weight_names", [])
            ]
            table[lname] = [np.asarray(group[n]) for n in names]  # native dtype, like Keras
            paths[lname] = list(zip(names, table[lname], strict=True))
    return H5Weights(table, paths)


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


@dataclass(frozen=True)
class _ModelWeights:
    """Weights of an in-memory Keras model's layers by name (nested models' too)."""

    model: Any

    def __call__(self, name: str) -> list[FloatArray]:
        layer = next((x for x in self.model.layers if x.name == name), None)
        return [] if layer is None else [np.asarray(w) for w in layer.get_weights()]

    def nested(self, name: str) -> WeightGetter:
        return _ModelWeights(self.model.get_layer(name))


def from_keras_model(model: Any) -> Graph:
    """Convert an in-memory Keras 3 model object (nested models inlined)."""
    config = {"class_name": type(model).__name__, "config": model.get_config()}
    if config["class_name"] != "Sequential":
        config["class_name"] = "Functional"
    graph = convert_config(config, _ModelWeights(model))
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
    "NESTED",
    "H5Weights",
    "NestedWeights",
    "convert_config",
    "find_weights",
    "from_keras_model",
    "import_keras",
    "load_h5_model",
    "load_json_h5",
    "load_keras_file",
]
