"""SONIC-style inference client for event loops (modes, batching, retries, server choice).

Needs only `hepinfer.protocol` and gRPC (the ``client`` extra); the local fallback server
needs the ``serve`` extra and is imported only when it starts.
"""

from __future__ import annotations

from hepinfer.client.client import ClientStats, InferenceHandle, Outputs, SonicClient
from hepinfer.client.connection import QueueStats
from hepinfer.client.model import ModelInfo, TensorInfo
from hepinfer.client.options import BatchMode, ClientOptions, FallbackOptions, Mode

__all__ = [
    "BatchMode",
    "ClientOptions",
    "ClientStats",
    "FallbackOptions",
    "InferenceHandle",
    "Mode",
    "ModelInfo",
    "Outputs",
    "QueueStats",
    "SonicClient",
    "TensorInfo",
]
