"""System shared-memory regions (Triton's shared-memory extension), opt-in.

Clients create a POSIX shared-memory object (``shm_open(key)``, i.e. ``/dev/shm/<key>``) and
register it under a region name; tensors then name the region, offset and byte size instead
of carrying their data. The server maps each region once with `mmap`.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepinfer.errors import ProtocolError, ServeError
from hepinfer.protocol.dtypes import numpy_dtype
from hepinfer.protocol.messages import SharedMemoryRef
from hepinfer.protocol.tensors import deserialize_bytes

SHM_DIR = Path("/dev/shm")


@dataclass(frozen=True)
class Region:
    """A registered region: the mapped object and the registered window."""

    name: str
    key: str
    offset: int
    byte_size: int
    memory: mmap.mmap


class SharedMemoryManager:
    """The registry of system shared-memory regions."""

    def __init__(self) -> None:
        self._regions: dict[str, Region] = {}

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Map `byte_size` bytes at `offset` of the shared-memory object `key`."""
        if name in self._regions:
            msg = f"shared memory region '{name}' already in manager; unregister it first"
            raise ServeError(msg)
        path = SHM_DIR / key.lstrip("/")
        if "/" in key.lstrip("/") or not path.exists():
            msg = f"unable to open shared memory region: '{key}' (no such object in {SHM_DIR})"
            raise ProtocolError(msg)
        fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            if offset < 0 or byte_size <= 0 or offset + byte_size > size:
                msg = (
                    f"shared memory region '{name}': offset {offset} + byte_size {byte_size} "
                    f"exceeds the object's {size} bytes"
                )
                raise ProtocolError(msg)
            memory = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._regions[name] = Region(name, key, offset, byte_size, memory)

    def unregister(self, name: str = "") -> None:
        """Unregister one region, or all when `name` is empty."""
        names = [name] if name else list(self._regions)
        for n in names:
            region = self._regions.pop(n, None)
            if region is not None:
                region.memory.close()

    def status(self, name: str = "") -> list[Region]:
        """Registered regions (one, or all when `name` is empty)."""
        if name:
            if name not in self._regions:
                msg = f"Unable to find system shared memory region: '{name}'"
                raise ProtocolError(msg)
            return [self._regions[name]]
        return list(self._regions.values())

    def _window(self, ref: SharedMemoryRef) -> tuple[Region, int]:
        region = self._regions.get(ref.region)
        if region is None:
            msg = f"Unable to find shared memory region: '{ref.region}'"
            raise ProtocolError(msg)
        if ref.offset < 0 or ref.offset + ref.byte_size > region.byte_size:
            msg = (
                f"shared memory region '{ref.region}': offset {ref.offset} + size "
                f"{ref.byte_size} is outside its {region.byte_size} registered bytes"
            )
            raise ProtocolError(msg)
        return region, region.offset + ref.offset

    def read(self, ref: SharedMemoryRef, datatype: str, shape: tuple[int, ...]) -> np.ndarray:
        """A copy of the tensor stored at `ref`."""
        region, start = self._window(ref)
        if datatype == "BYTES":
            raw = region.memory[start : start + ref.byte_size]
            count = int(np.prod(shape, dtype=np.int64))
            return deserialize_bytes(ref.region, raw, count).reshape(shape)
        dtype = numpy_dtype(datatype)
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != ref.byte_size:
            msg = (
                f"unexpected total byte size {ref.byte_size} for tensor in region "
                f"'{ref.region}', expecting {count * dtype.itemsize}"
            )
            raise ProtocolError(msg)
        return np.frombuffer(region.memory, dtype, count, start).reshape(shape).copy()

    def write(self, ref: SharedMemoryRef, data: bytes) -> None:
        """Write an output tensor's bytes into the region at `ref`."""
        region, start = self._window(ref)
        if len(data) > ref.byte_size:
            msg = f"output needs {len(data)} bytes but region '{ref.region}' gives {ref.byte_size}"
            raise ProtocolError(msg)
        region.memory[start : start + len(data)] = data

    def close(self) -> None:
        """Unmap every region."""
        self.unregister()
