"""Triton's python backend: ``backend: "python"`` models defined by a ``model.py``."""

from __future__ import annotations

from hepinfer.serve.backends.python.backend import PythonBackend

__all__ = ["PythonBackend"]
