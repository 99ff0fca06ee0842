"""Protocol-neutral inference requests and responses (what gRPC and HTTP both decode to).

Immutable NamedTuples rather than frozen dataclasses: they are built for every request on
the server's hot path, and a NamedTuple is several times cheaper to construct.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

_NO_PARAMETERS: Mapping[str, Any] = MappingProxyType({})


class SharedMemoryRef(NamedTuple):
    """Where a tensor lives in a registered system shared-memory region."""

    region: str
    byte_size: int
    offset: int = 0


class RequestedOutput(NamedTuple):
    """An output the client asked for, with Triton's per-output options."""

    name: str
    class_count: int = 0
    binary_data: bool = True
    shm: SharedMemoryRef | None = None


class InferInput(NamedTuple):
    """A decoded input tensor (or a reference to it in shared memory, then `data` is None)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray | None
    shm: SharedMemoryRef | None = None


class InferRequest(NamedTuple):
    """One inference request: model, inputs as numpy arrays, and the outputs wanted."""

    model_name: str
    model_version: str
    id: str
    inputs: tuple[InferInput, ...]
    outputs: tuple[RequestedOutput, ...] = ()
    parameters: Mapping[str, Any] = _NO_PARAMETERS


class InferOutput(NamedTuple):
    """One output tensor of a response (`shm` set when it was written to shared memory)."""

    name: str
    datatype: str
    data: np.ndarray
    shm: SharedMemoryRef | None = None


class InferResponse(NamedTuple):
    """The answer to an InferRequest."""

    model_name: str
    model_version: str
    id: str
    outputs: tuple[InferOutput, ...]
