"""Protocol-neutral inference requests and responses (what gRPC and HTTP both decode to)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class SharedMemoryRef:
    """Where a tensor lives in a registered system shared-memory region."""

    region: str
    byte_size: int
    offset: int = 0


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """An output the client asked for, with Triton's per-output options."""

    name: str
    class_count: int = 0
    binary_data: bool = True
    shm: SharedMemoryRef | None = None


@dataclass(frozen=True, slots=True)
class InferInput:
    """A decoded input tensor (or a reference to it in shared memory, then `data` is None)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray | None
    shm: SharedMemoryRef | None = None


@dataclass(frozen=True, slots=True)
class InferRequest:
    """One inference request: model, inputs as numpy arrays, and the outputs wanted."""

    model_name: str
    model_version: str
    id: str
    inputs: tuple[InferInput, ...]
    outputs: tuple[RequestedOutput, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InferOutput:
    """One output tensor of a response (`shm` set when it was written to shared memory)."""

    name: str
    datatype: str
    data: np.ndarray
    shm: SharedMemoryRef | None = None


@dataclass(frozen=True, slots=True)
class InferResponse:
    """The answer to an InferRequest."""

    model_name: str
    model_version: str
    id: str
    outputs: tuple[InferOutput, ...]
