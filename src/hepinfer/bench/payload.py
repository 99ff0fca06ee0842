"""Requests prepared once and sent many times: gRPC message bytes or HTTP bodies, with the
tensors inline or in one registered system shared-memory region (``--shared-memory system``).

perf_analyzer also prepares its inputs before measuring; sending prepared bytes keeps the load
generator's own cost per request to the transport. With shared memory the inputs of every
prepared request are written once into one region the server maps; the requests carry only
(region, offset, byte size) per input, and the outputs come back in the response.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from hepinfer.client.model import ModelInfo
from hepinfer.client.wire import RequestEncoder, raw_buffer
from hepinfer.errors import BenchError
from hepinfer.protocol import decode_raw, deserialize_bytes
from hepinfer.protocol.http_codec import HEADER_LENGTH
from hepinfer.protocol.tensors import element_count

_ALIGN = 64
_regions = itertools.count()


@dataclass(frozen=True)
class ShmInputs:
    """Where each prepared request's inputs lie: [request][input] = (offset, byte size)."""

    region: str
    key: str
    size: int
    refs: tuple[tuple[tuple[int, int], ...], ...]


class Region:
    """One POSIX shared-memory object holding the inputs of every prepared request."""

    def __init__(self, requests: Sequence[Sequence[np.ndarray]]) -> None:
        refs: list[tuple[tuple[int, int], ...]] = []
        offset = 0
        for arrays in requests:
            row: list[tuple[int, int]] = []
            for a in arrays:
                nbytes = len(raw_buffer(a))
                row.append((offset, nbytes))
                offset += -(-max(nbytes, 1) // _ALIGN) * _ALIGN
            refs.append(tuple(row))
        self.memory = shared_memory.SharedMemory(create=True, size=max(offset, _ALIGN))
        buf = self.memory.buf
        assert buf is not None
        for arrays, placed in zip(requests, refs, strict=True):
            for a, (start, nbytes) in zip(arrays, placed, strict=True):
                buf[start : start + nbytes] = bytes(raw_buffer(a))
        name = f"hepinfer_bench_{os.getpid()}_{next(_regions)}"
        self.inputs = ShmInputs(name, f"/{self.memory.name}", self.memory.size, tuple(refs))

    def close(self) -> None:
        """Unmap and remove the object."""
        self.memory.close()
        with contextlib.suppress(FileNotFoundError):
            self.memory.unlink()


def grpc_payloads(
    model: ModelInfo, version: str, requests: Sequence[Sequence[np.ndarray]], shm: ShmInputs | None
) -> list[bytes]:
    """Serialised ModelInferRequest messages, one per prepared request."""
    encoder = RequestEncoder(
        model.name,
        version,
        [(i.name, i.datatype) for i in model.inputs],
        [o.name for o in model.outputs],
    )
    out = []
    for k, arrays in enumerate(requests):
        shapes = [a.shape for a in arrays]
        if shm is None:
            out.append(encoder.encode(shapes, [raw_buffer(a) for a in arrays]))
        else:
            refs = [(shm.region, off, n) for off, n in shm.refs[k]]
            out.append(encoder.encode_shm(shapes, refs))
    return out


def http_bodies(
    model: ModelInfo, requests: Sequence[Sequence[np.ndarray]], shm: ShmInputs | None
) -> list[tuple[bytes, dict[str, str]]]:
    """HTTP infer bodies (JSON header + binary tensors) and their headers."""
    outputs = [{"name": o.name, "parameters": {"binary_data": True}} for o in model.outputs]
    out = []
    for k, arrays in enumerate(requests):
        inputs: list[dict[str, Any]] = []
        raws: list[bytes] = []
        for j, (info, a) in enumerate(zip(model.inputs, arrays, strict=True)):
            tensor: dict[str, Any] = {
                "name": info.name,
                "datatype": info.datatype,
                "shape": list(a.shape),
            }
            if shm is None:
                raw = bytes(raw_buffer(a))
                tensor["parameters"] = {"binary_data_size": len(raw)}
                raws.append(raw)
            else:
                offset, nbytes = shm.refs[k][j]
                tensor["parameters"] = {
                    "shared_memory_region": shm.region,
                    "shared_memory_byte_size": nbytes,
                    "shared_memory_offset": offset,
                }
            inputs.append(tensor)
        header = json.dumps({"inputs": inputs, "outputs": outputs}).encode()
        headers = {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
        out.append((header + b"".join(raws), headers))
    return out


def decode_http(body: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """The outputs of an HTTP infer response (binary or JSON tensors)."""
    length = int(header_length) if header_length is not None else len(body)
    doc = json.loads(body[:length])
    pos = length
    result = {}
    for o in doc.get("outputs", []):
        shape = tuple(o["shape"])
        size = o.get("parameters", {}).get("binary_data_size")
        if size is not None:
            raw = memoryview(body)[pos : pos + size]
            pos += size
            if o["datatype"] == "BYTES":
                result[o["name"]] = deserialize_bytes(o["name"], raw, element_count(shape)).reshape(
                    shape
                )
            else:
                result[o["name"]] = decode_raw(o["name"], raw, o["datatype"], shape)
        else:
            result[o["name"]] = np.asarray(o["data"]).reshape(shape)
    return result


def check_outputs(
    request: int, got: dict[str, np.ndarray], expected: dict[str, np.ndarray]
) -> None:
    """Compare a response with validation_data, bit for bit (as perf_analyzer)."""
    for name, want in expected.items():
        have = got.get(name)
        if have is None:
            msg = f"request {request}: the server returned no output {name!r} to validate"
            raise BenchError(msg)
        same = have.shape == want.shape and (
            np.array_equal(have, want.astype(have.dtype))
            if have.dtype != object
            else [str(v) for v in have.reshape(-1)] == [str(v) for v in want.reshape(-1)]
        )
        if not same:
            msg = (
                f"request {request}: output {name!r} is {have.reshape(-1)[:8].tolist()} "
                f"(shape {list(have.shape)}) but validation_data expects "
                f"{want.reshape(-1)[:8].tolist()} (shape {list(want.shape)}); check the "
                f"--input-data file or the model"
            )
            raise BenchError(msg)
