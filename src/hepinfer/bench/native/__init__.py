"""The native request loop of `hepinfer bench` (gRPC C++, see ``loadgen.cc``).

`NativeLoop` keeps N ModelInfer calls in flight with gRPC's C++ library, sending pre-serialised
request bytes and timing every call, with no Python on the request path: the load generator
then costs less CPU per request than perf_analyzer (which builds and parses protobuf
messages). Built with the system g++ against ``libgrpc++-dev`` on first use (about 10 s) and
cached under ``$HEPINFER_CACHE/bench``; `native_available()` says whether it can be built.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hepinfer.cache import build_grpc_library, cache_dir, compiler_id
from hepinfer.errors import BenchError

SOURCE = Path(__file__).with_name("loadgen.cc")
CXXFLAGS = ("-O2", "-DNDEBUG", "-std=c++17", "-fPIC", "-shared")
LIBRARY = "libhepinfer_loadgen.so"
_FIX = (
    "install the gRPC C++ development files (Debian/Ubuntu: `apt-get install g++ pkg-config "
    "libgrpc++-dev`) or run `hepinfer bench --engine python`"
)
_LOCK = threading.Lock()
_LOADED: dict[Path, ctypes.CDLL] = {}
_TAKE = 65536
_i64 = ctypes.POINTER(ctypes.c_int64)
_i32 = ctypes.POINTER(ctypes.c_int32)


def build_library() -> Path:
    """The cached shared library (compiled on first use)."""
    return build_grpc_library("bench", SOURCE, LIBRARY, CXXFLAGS, BenchError, _FIX)


@functools.cache
def _pointer() -> Path:
    """A file naming the library last built from this source with this compiler: asking
    pkg-config for gRPC's flags takes seconds, which every `hepinfer bench` would pay.
    """
    cxx = os.environ.get("CXX", "g++")
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(f"{compiler_id(cxx) if shutil.which(cxx) else cxx}\0{' '.join(CXXFLAGS)}".encode())
    return cache_dir() / "bench" / f"latest-{h.hexdigest()[:24]}"


def _open(path: Path) -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(str(path))
    except OSError:
        return None


def load_library() -> ctypes.CDLL:
    """The library, loaded once per process, with its C signatures declared."""
    pointer = _pointer()
    known = Path(pointer.read_text().strip()) if pointer.is_file() else None
    with _LOCK:
        if known is not None and known in _LOADED:
            return _LOADED[known]
    dll = _open(known) if known is not None and known.is_file() else None
    path = known
    if dll is None:  # first use, or the system's gRPC changed under the built library
        path = build_library()
        dll = _open(path)
        if dll is None:
            msg = f"the native load loop {path} does not load: {_FIX}"
            raise BenchError(msg)
        pointer.write_text(f"{path}\n")
    assert path is not None
    with _LOCK:
        if path not in _LOADED:
            c = ctypes
            dll.hb_open.argtypes = [
                c.c_char_p,
                c.c_char_p,
                c.POINTER(c.c_char_p),
                c.POINTER(c.c_size_t),
                c.c_int,
                c.c_double,
                c.c_int,
                c.c_double,
                c.c_char_p,
                c.c_size_t,
            ]
            dll.hb_open.restype = c.c_void_p
            dll.hb_start.argtypes = [c.c_void_p, c.c_int, c.c_int]
            dll.hb_start.restype = c.c_int
            dll.hb_take.argtypes = [c.c_void_p, _i64, _i64, _i64, _i64, _i32, _i32, c.c_long]
            dll.hb_take.restype = c.c_long
            dll.hb_pending.argtypes = [c.c_void_p]
            dll.hb_pending.restype = c.c_long
            dll.hb_last_error.argtypes = [c.c_void_p, c.c_char_p, c.c_size_t]
            dll.hb_last_error.restype = None
            dll.hb_stop.argtypes = [c.c_void_p]
            dll.hb_stop.restype = None
            dll.hb_close.argtypes = [c.c_void_p]
            dll.hb_close.restype = None
            _LOADED[path] = dll
        return _LOADED[path]


@functools.cache
def native_available() -> bool:
    """Whether the native loop can be built (or is built) here (asked once per process)."""
    try:
        load_library()
    except BenchError:
        return False
    return True


class Finished:
    """Calls finished since the last `NativeLoop.take` (arrays of equal length; ns)."""

    __slots__ = ("end", "ok", "payload", "recv", "send", "start")

    def __init__(self, n: int) -> None:
        self.start = np.empty(n, np.int64)
        self.end = np.empty(n, np.int64)
        self.send = np.empty(n, np.int64)
        self.recv = np.empty(n, np.int64)
        self.ok = np.empty(n, np.int32)
        self.payload = np.empty(n, np.int32)

    def cut(self, n: int) -> Finished:
        """The first n entries."""
        out = Finished(0)
        for name in self.__slots__:
            setattr(out, name, getattr(self, name)[:n])
        return out


class NativeLoop:
    """N unary calls of `method` in flight on one channel, cycling through `payloads`."""

    def __init__(
        self,
        url: str,
        method: str,
        payloads: Sequence[bytes],
        *,
        timeout_s: float,
        max_message: int = 256 * 1024 * 1024,
    ) -> None:
        self._dll = load_library()
        self._payloads = list(payloads)  # kept alive: the C side copies them, but be safe
        n = len(self._payloads)
        ptrs = (ctypes.c_char_p * n)(*self._payloads)
        sizes = (ctypes.c_size_t * n)(*(len(p) for p in self._payloads))
        err = ctypes.create_string_buffer(512)
        handle = self._dll.hb_open(
            url.encode(),
            method.encode(),
            ptrs,
            sizes,
            n,
            timeout_s,
            max_message,
            min(timeout_s, 10.0),
            err,
            len(err),
        )
        if not handle:
            msg = f"native load loop: {err.value.decode(errors='replace')} ({url})"
            raise BenchError(msg)
        self._handle: int | None = handle
        self.running = False

    def start(self, concurrency: int, threads: int = 1) -> None:
        """Put `concurrency` calls in flight (driven by `threads` C++ threads)."""
        if self._handle is None or self._dll.hb_start(self._handle, concurrency, threads) != 0:
            msg = f"native load loop cannot start {concurrency} calls (closed or running)"
            raise BenchError(msg)
        self.running = True

    def pending(self) -> int:
        """Finished calls not yet taken."""
        return int(self._dll.hb_pending(self._handle)) if self._handle is not None else 0

    def take(self) -> Finished:
        """Every call finished since the last take."""
        out = Finished(_TAKE)
        parts: list[Finished] = []
        while self._handle is not None:
            arrays = (out.start, out.end, out.send, out.recv)
            ptrs = [a.ctypes.data_as(_i64) for a in arrays]
            n = self._dll.hb_take(
                self._handle,
                *ptrs,
                out.ok.ctypes.data_as(_i32),
                out.payload.ctypes.data_as(_i32),
                _TAKE,
            )
            parts.append(out.cut(n))
            if n < _TAKE:
                break
            out = Finished(_TAKE)
        if len(parts) == 1:
            return parts[0]
        joined = Finished(0)
        for name in Finished.__slots__:
            setattr(joined, name, np.concatenate([getattr(p, name) for p in parts]))
        return joined

    def last_error(self) -> str:
        """The message of the last failed call."""
        if self._handle is None:
            return ""
        err = ctypes.create_string_buffer(1024)
        self._dll.hb_last_error(self._handle, err, len(err))
        return err.value.decode(errors="replace")

    def stop(self) -> None:
        """Stop starting calls and wait for those in flight (they stay to be taken)."""
        if self._handle is not None and self.running:
            self._dll.hb_stop(self._handle)
        self.running = False

    def close(self) -> None:
        """Stop and free the channel."""
        if self._handle is not None:
            self._dll.hb_close(self._handle)
            self._handle = None
        self.running = False
