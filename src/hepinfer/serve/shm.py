"""System shared-memory regions (Triton's shared-memory extension), opt-in.

Clients create a POSIX shared-memory object (``shm_open(key)``, i.e. ``/dev/shm/<key>``) and
register it under a region name; tensors then name the region, offset and byte size instead
of carrying their data.

Hardening (a client must not reach beyond its own objects, nor crash the server):
- keys are plain object names (letters, digits, ``._-``), optionally restricted to a
  configured prefix (``--shm-prefix``), opened relative to ``/dev/shm`` without following a
  symlink (``O_NOFOLLOW``), and must be regular files;
- tensors are read and written with ``pread``/``pwrite`` on the kept descriptor, never
  through a mapping: an object truncated after registration gives a short read, reported as
  an error, where a mapping would kill the server with SIGBUS.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepinfer.errors import ProtocolError, ServeError
from hepinfer.protocol.dtypes import numpy_dtype
from hepinfer.protocol.messages import SharedMemoryRef
from hepinfer.protocol.tensors import deserialize_bytes

SHM_DIR = Path("/dev/shm")
_KEY = re.compile(r"[A-Za-z0-9._-]{1,255}")


@dataclass(frozen=True)
class Region:
    """A registered region: the open object and the registered window."""

    name: str
    key: str
    offset: int
    byte_size: int
    fd: int


class SharedMemoryManager:
    """The registry of system shared-memory regions.

    `prefix`: when not empty, only objects whose name starts with it can be registered.
    `directory`: where POSIX shared-memory objects live (``/dev/shm``).
    """

    def __init__(self, prefix: str = "", directory: Path = SHM_DIR) -> None:
        self._regions: dict[str, Region] = {}
        self.prefix = prefix.lstrip("/")
        self.directory = directory

    def _check_key(self, key: str) -> str:
        name = key.removeprefix("/")
        if not _KEY.fullmatch(name) or name in (".", ".."):
            msg = (
                f"shared memory key {key!r} is not a plain object name: give the name passed "
                "to shm_open, e.g. '/my_input' (letters, digits, '.', '_', '-')"
            )
            raise ProtocolError(msg)
        if not name.startswith(self.prefix):
            msg = (
                f"shared memory key {key!r} is refused: this server only registers objects "
                f"whose name starts with {self.prefix!r} (--shm-prefix)"
            )
            raise ProtocolError(msg)
        return name

    def _open(self, key: str, name: str) -> int:
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except FileNotFoundError:
            msg = (
                f"unable to open shared memory region: '{key}' (no such object in {self.directory})"
            )
            raise ProtocolError(msg) from None
        except OSError as exc:  # ELOOP for a symlink, EACCES, ...
            msg = (
                f"unable to open shared memory region: '{key}': {exc.strerror} (symlinks are "
                "never followed; the object must be a shared-memory object the server may open)"
            )
            raise ProtocolError(msg) from None
        finally:
            os.close(dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            msg = f"unable to open shared memory region: '{key}' is not a shared-memory object"
            raise ProtocolError(msg)
        return fd

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Register `byte_size` bytes at `offset` of the shared-memory object `key`."""
        if name in self._regions:
            msg = f"shared memory region '{name}' already in manager; unregister it first"
            raise ServeError(msg)
        fd = self._open(key, self._check_key(key))
        size = os.fstat(fd).st_size
        if offset < 0 or byte_size <= 0 or offset + byte_size > size:
            os.close(fd)
            msg = (
                f"shared memory region '{name}': offset {offset} + byte_size {byte_size} "
                f"exceeds the object's {size} bytes"
            )
            raise ProtocolError(msg)
        self._regions[name] = Region(name, key, offset, byte_size, fd)

    def unregister(self, name: str = "") -> None:
        """Unregister one region, or all when `name` is empty."""
        names = [name] if name else list(self._regions)
        for n in names:
            region = self._regions.pop(n, None)
            if region is not None:
                os.close(region.fd)

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

    def _pread(self, ref: SharedMemoryRef) -> bytes:
        region, start = self._window(ref)
        data = os.pread(region.fd, ref.byte_size, start)
        if len(data) != ref.byte_size:
            msg = (
                f"shared memory region '{ref.region}' holds only {len(data)} of the "
                f"{ref.byte_size} bytes asked for at offset {start}: its object "
                f"'{region.key}' was truncated after registration; register it again"
            )
            raise ProtocolError(msg)
        return data

    def read(self, ref: SharedMemoryRef, datatype: str, shape: tuple[int, ...]) -> np.ndarray:
        """A copy of the tensor stored at `ref`."""
        count = int(np.prod(shape, dtype=np.int64))
        if datatype == "BYTES":
            return deserialize_bytes(ref.region, self._pread(ref), count).reshape(shape)
        dtype = numpy_dtype(datatype)
        if count * dtype.itemsize != ref.byte_size:
            msg = (
                f"unexpected total byte size {ref.byte_size} for tensor in region "
                f"'{ref.region}', expecting {count * dtype.itemsize}"
            )
            raise ProtocolError(msg)
        return np.frombuffer(bytearray(self._pread(ref)), dtype, count).reshape(shape)

    def write(self, ref: SharedMemoryRef, data: bytes) -> None:
        """Write an output tensor's bytes into the region at `ref`."""
        region, start = self._window(ref)
        if len(data) > ref.byte_size:
            msg = f"output needs {len(data)} bytes but region '{ref.region}' gives {ref.byte_size}"
            raise ProtocolError(msg)
        size = os.fstat(region.fd).st_size
        if start + len(data) > size:
            msg = (
                f"shared memory region '{ref.region}': its object '{region.key}' was truncated "
                f"to {size} bytes after registration; register it again"
            )
            raise ProtocolError(msg)
        os.pwrite(region.fd, data, start)

    def close(self) -> None:
        """Unmap every region."""
        self.unregister()
