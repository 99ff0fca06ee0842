"""hepinfer's Triton-compatible inference server (gRPC + HTTP, dynamic batching, metrics)."""

from __future__ import annotations

from hepinfer.serve.backends.base import Backend, ModelInstance, register_backend
from hepinfer.serve.server import InferenceServer, ServerOptions

__all__ = ["Backend", "InferenceServer", "ModelInstance", "ServerOptions", "register_backend"]
