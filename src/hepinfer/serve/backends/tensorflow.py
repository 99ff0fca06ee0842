"""TensorFlow backend (``tensorflow_graphdef`` and ``tensorflow_savedmodel``); needs the tf extra.

A graphdef is imported into a TF1-style session; tensors are looked up by the config's
names (``name`` or ``name:0``). A SavedModel runs its ``serving_default`` signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import MissingDependencyError, ServeError


def _tf() -> Any:
    try:
        import tensorflow as tf
    except ImportError:
        feature = "the tensorflow_graphdef / tensorflow_savedmodel backend"
        package = "tensorflow"
        raise MissingDependencyError(package, "tf", feature) from None
    return tf


def _tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


class TensorFlowInstance:
    """A graphdef in a TF1 session, or a SavedModel's serving signature."""

    def __init__(self, path: Path, config: mc.ModelConfig) -> None:
        tf = _tf()
        self._savedmodel = path.is_dir()
        try:
            if self._savedmodel:
                self._signature = tf.saved_model.load(str(path)).signatures["serving_default"]
            else:
                graph_def = tf.compat.v1.GraphDef()
                graph_def.ParseFromString(path.read_bytes())
                graph = tf.Graph()
                with graph.as_default():
                    tf.compat.v1.import_graph_def(graph_def, name="")
                self._session = tf.compat.v1.Session(graph=graph)
        except Exception as exc:
            msg = f"model {config.name!r}: TensorFlow cannot load {path}: {exc}"
            raise ServeError(msg) from exc

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> dict[str, np.ndarray]:
        if self._savedmodel:
            result = self._signature(**{k: np.asarray(v) for k, v in inputs.items()})
            return {n: result[n].numpy() for n in outputs}
        fetched = self._session.run(
            [_tensor_name(n) for n in outputs],
            feed_dict={_tensor_name(k): v for k, v in inputs.items()},
        )
        return dict(zip(outputs, fetched, strict=True))

    def close(self) -> None:
        if not self._savedmodel:
            self._session.close()


class TensorFlowBackend:
    """Serves ``model.graphdef`` files and ``model.savedmodel`` folders."""

    platforms: tuple[str, ...] = ("tensorflow_graphdef", "tensorflow_savedmodel")
    default_filename = "model.graphdef"

    def load(self, path: Path, config: mc.ModelConfig) -> TensorFlowInstance:
        return TensorFlowInstance(path, config)

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:
        msg = f"model {config.name!r}: write a config.pbtxt for the TensorFlow model at {path}"
        raise ServeError(msg)
