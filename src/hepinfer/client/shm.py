"""System shared memory for servers on the same machine (SonicTriton's ``useSharedMemory``).

Inputs are copied into a POSIX shared-memory slot registered with the server; the request
then carries only (region, offset, byte size) per input instead of the tensor bytes, so large
inputs skip gRPC serialisation and the socket. Each request in flight holds one slot; slots
are reused and grow (a new, larger slot is registered) when an event needs more room.
Outputs still come back in the response. Used only for servers on a loopback address (or
the local fallback server) that accept the registration (hepinfer: ``--enable-shm``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from itertools import count
from multiprocessing import shared_memory

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb

log = logging.getLogger(__name__)

_ALIGN = 64
_MIN_SLOT = 64 * 1024
_LOOPBACK = ("127.", "localhost:", "[::1]:")
_pools = count()


def is_loopback(url: str) -> bool:
    """Whether a 'host:port' address is on this machine."""
    return url.startswith(_LOOPBACK)


class Slot:
    """One registered shared-memory object."""

    __slots__ = ("memory", "name", "size")

    def __init__(self, name: str, size: int) -> None:
        self.memory = shared_memory.SharedMemory(create=True, size=size)
        self.name = name
        self.size = size

    def write(self, arrays: Sequence[np.ndarray]) -> list[tuple[int, int]]:
        """Copy the arrays in (64-byte aligned); returns (offset, byte size) of each."""
        refs = []
        offset = 0
        buf = self.memory.buf
        assert buf is not None
        for array in arrays:
            nbytes = array.nbytes
            view = np.ndarray(array.shape, array.dtype.newbyteorder("<"), buf, offset)
            view[...] = array
            refs.append((offset, nbytes))
            offset += -(-nbytes // _ALIGN) * _ALIGN
        return refs

    def close(self) -> None:
        self.memory.close()
        with contextlib.suppress(FileNotFoundError):
            self.memory.unlink()


def needed_bytes(arrays: Sequence[np.ndarray]) -> int:
    """Room the arrays take in a slot (each aligned)."""
    return sum(-(-a.nbytes // _ALIGN) * _ALIGN for a in arrays)


class ShmPool:
    """Reusable registered slots for one server."""

    def __init__(self, stub: object, timeout: float) -> None:
        self._stub = stub
        self._timeout = timeout
        self._prefix = f"hepinfer_{os.getpid()}_{next(_pools)}_"
        self._ids = count()
        self._free: list[Slot] = []
        self._all: list[Slot] = []
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> Slot:
        """A free slot of at least `nbytes` (registers a new one when none fits)."""
        with self._lock:
            for i, slot in enumerate(self._free):
                if slot.size >= nbytes:
                    return self._free.pop(i)
        size = max(_MIN_SLOT, 1 << max(nbytes - 1, 1).bit_length())
        slot = Slot(f"{self._prefix}{next(self._ids)}", size)
        try:
            self._stub.SystemSharedMemoryRegister(  # type: ignore[attr-defined]
                pb.SystemSharedMemoryRegisterRequest(
                    name=slot.name, key=f"/{slot.memory.name}", offset=0, byte_size=size
                ),
                timeout=self._timeout,
            )
        except grpc.RpcError:
            slot.close()
            raise
        with self._lock:
            self._all.append(slot)
        return slot

    def give(self, slot: Slot) -> None:
        """Return a slot after its request was answered."""
        with self._lock:
            self._free.append(slot)

    def close(self) -> None:
        """Unregister (best effort) and free every slot."""
        with self._lock:
            slots, self._all, self._free = self._all, [], []
        for slot in slots:
            with contextlib.suppress(grpc.RpcError):  # the server may be gone
                self._stub.SystemSharedMemoryUnregister(  # type: ignore[attr-defined]
                    pb.SystemSharedMemoryUnregisterRequest(name=slot.name), timeout=self._timeout
                )
            slot.close()
