"""The backend interface: how the server loads and runs one instance of a model.

A backend is a `Backend` registered under a name (Triton's ``backend`` / ``platform``): it
loads one *instance* of a model version (e.g. one onnxruntime session), and may fill in a
model configuration from the model file (Triton's auto-complete). The server runs each
instance in its own executor thread, so `ModelInstance.run` may block; it receives whole
batches (first dimension = batch when ``max_batch_size > 0``) and must be safe to call from
one thread at a time.

Other packages plug in with `register_backend`, or declaratively with an entry point in the
``hepinfer.backends`` group (loaded when the server first resolves a backend); hepinfer's
compiler's bit-exact firmware emulator is built in under ``"hepinfer"`` (`.firmware`).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError

log = logging.getLogger(__name__)


class ModelInstance(Protocol):
    """One loaded copy of a model version; `run` is called from one thread at a time."""

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Run on a batch of inputs (config names -> arrays); return the named outputs."""
        ...

    def close(self) -> None:
        """Release the instance's resources."""
        ...


class Backend(Protocol):
    """Loads instances of models of one kind (onnxruntime, pytorch, ...)."""

    #: Triton platform names this backend serves (e.g. ``("onnxruntime_onnx",)``)
    platforms: tuple[str, ...]
    #: file or folder name in the version folder when the config names none
    default_filename: str

    def load(self, path: Path, config: mc.ModelConfig) -> ModelInstance:
        """Load one instance of the model stored at `path` (file or folder)."""
        ...

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:
        """Fill missing inputs/outputs/max_batch_size of `config` from the model at `path`."""
        ...


#: entry-point group through which installed packages add backends (e.g. hepinfer's firmware)
ENTRY_POINT_GROUP = "hepinfer.backends"

_REGISTRY: dict[str, Backend] = {}


def register_backend(name: str, backend: Backend) -> None:
    """Make `backend` available for models whose config names `name` (or its platforms)."""
    _REGISTRY[name] = backend


_BUILTINS: list[bool] = []


def _builtin() -> None:
    if _BUILTINS:
        return
    _BUILTINS.append(True)
    from hepinfer.serve.backends.ensemble import EnsembleBackend
    from hepinfer.serve.backends.firmware import FirmwareBackend
    from hepinfer.serve.backends.onnxruntime import OnnxRuntimeBackend
    from hepinfer.serve.backends.python import PythonBackend
    from hepinfer.serve.backends.pytorch import PyTorchBackend
    from hepinfer.serve.backends.tensorflow import TensorFlowBackend

    _REGISTRY.setdefault("onnxruntime", OnnxRuntimeBackend())
    _REGISTRY.setdefault("pytorch", PyTorchBackend())
    _REGISTRY.setdefault("tensorflow", TensorFlowBackend())
    _REGISTRY.setdefault("hepinfer", FirmwareBackend())
    _REGISTRY.setdefault("python", PythonBackend())
    _REGISTRY.setdefault("ensemble", EnsembleBackend())
    load_entry_points()


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Register the backends that installed packages declare as entry points; returns names.

    A package declares ``[project.entry-points."hepinfer.backends"] NAME = "module:factory"``
    where ``factory()`` returns a `Backend`. A plug-in that fails to load is logged and skipped.
    """
    names = []
    for entry in importlib.metadata.entry_points(group=group):
        try:
            backend = entry.load()()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not stop the server
            log.warning("backend plug-in %r (%s) failed to load: %s", entry.name, entry.value, exc)
            continue
        _REGISTRY.setdefault(entry.name, backend)
        names.append(entry.name)
    return names


def backend_names() -> list[str]:
    """Names of the registered backends."""
    _builtin()
    return sorted(_REGISTRY)


def resolve_backend(config: mc.ModelConfig) -> tuple[str, Backend]:
    """The backend serving `config` (by its ``backend`` field, else its ``platform``)."""
    _builtin()
    if config.backend:
        backend = _REGISTRY.get(config.backend)
        if backend is not None:
            return config.backend, backend
    for name, backend in _REGISTRY.items():
        if config.platform and config.platform in backend.platforms:
            return name, backend
    wanted = config.backend or config.platform or "(none)"
    msg = (
        f"model {config.name!r}: no backend for backend/platform {wanted!r}; available "
        f"backends: {', '.join(backend_names())} (platforms: "
        f"{', '.join(p for b in _REGISTRY.values() for p in b.platforms)})"
    )
    raise ServeError(msg)


def backend_for_file(path: Path) -> tuple[str, Backend] | None:
    """The backend whose default file name is `path.name` (for configs that name none)."""
    _builtin()
    for name, backend in _REGISTRY.items():
        if path.name == backend.default_filename:
            return name, backend
    return None
