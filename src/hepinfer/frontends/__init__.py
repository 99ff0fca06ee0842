"""Frontends: trained models (Keras, ONNX/QONNX, PyTorch) -> hepinfer IR, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepinfer.errors import FrontendError
from hepinfer.ir.graph import Graph

SUFFIXES = (".onnx", ".json", ".h5", ".keras", ".pt", ".pth", ".npz")


def load_model(model: Any, input_shape: Sequence[int] | None = None) -> Graph:
    """Convert a model object or file to a (verified) IR graph.

    Files: `.onnx` (ONNX/QONNX), `.json` (Keras 2 architecture; weights from `X_weights.h5`
    or `X.h5` next to it; or pass a `(json, h5)` tuple), `.h5` (a whole Keras model saved
    as HDF5), `.keras` (Keras 3), `.pt`/`.pth` (whole PyTorch module), `.npz` (an HGQ2 model
    exported by `hepinfer.frontends.hgq2_export`).
    Objects: `onnx.ModelProto`, `torch.nn.Module`, Keras models, or a `Graph` (returned as is).
    """
    if isinstance(model, Graph):
        return model
    if (
        isinstance(model, tuple)
        and len(model) == 2
        and all(isinstance(m, str | Path) for m in model)
    ):
        from hepinfer.frontends.keras import load_json_h5

        return load_json_h5(model[0], model[1])
    if isinstance(model, str | Path):
        path = Path(model)
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            from hepinfer.frontends.onnx import load_onnx

            return load_onnx(path)
        if suffix == ".json":
            from hepinfer.frontends.keras import find_weights, load_json_h5

            return load_json_h5(path, find_weights(path))
        if suffix in (".h5", ".hdf5"):
            from hepinfer.frontends.keras import load_h5_model

            return load_h5_model(path)
        if suffix == ".keras":
            from hepinfer.frontends.keras import load_keras_file

            return load_keras_file(path)
        if suffix == ".npz":
            from hepinfer.frontends.hgq2 import load_hgq2

            return load_hgq2(path)
        if suffix in (".pt", ".pth"):
            from hepinfer.frontends.torch import load_torch_file

            return load_torch_file(path, input_shape)
        msg = (
            f"model file {path} has an unknown suffix {suffix!r}; supported: {', '.join(SUFFIXES)}"
        )
        raise FrontendError(msg)
    cls = type(model)
    module = cls.__module__
    if module.startswith("onnx"):
        from hepinfer.frontends.onnx import from_onnx_model

        return from_onnx_model(model)
    # Keras before torch: Keras 3 models on the torch backend are torch modules too
    if module.startswith("keras") or any(c.__module__.startswith("keras") for c in cls.__mro__):
        from hepinfer.frontends.keras import from_keras_model

        if any(type(layer).__module__.startswith("hgq.") for layer in model.layers):
            from hepinfer.frontends.hgq2 import from_hgq2_model

            return from_hgq2_model(model)

        return from_keras_model(model)
    if module.startswith("torch") or any(c.__module__.startswith("torch.nn") for c in cls.__mro__):
        from hepinfer.frontends.torch import from_torch_module

        return from_torch_module(model, input_shape)
    msg = f"cannot convert a {cls.__module__}.{cls.__name__}; pass a model file path, an onnx.ModelProto, a torch.nn.Module or a Keras model"
    raise FrontendError(msg)


__all__ = ["SUFFIXES", "load_model"]
