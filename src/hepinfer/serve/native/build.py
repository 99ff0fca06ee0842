"""Build the native gRPC front end with the system g++ and cache it by content hash."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

from hepinfer.cache import build_grpc_library
from hepinfer.errors import NativeBuildError

SOURCE = Path(__file__).with_name("grpc_frontend.cc")
CXXFLAGS = ("-O2", "-DNDEBUG", "-std=c++17", "-fPIC", "-shared")
LIBRARY = "libhepinfer_grpc.so"
_FIX = (
    "install the gRPC C++ development files (Debian/Ubuntu: `apt-get install g++ pkg-config "
    "libgrpc++-dev`; `scripts/system-deps.sh` does it) or serve with grpc_frontend='aio'"
)

_LOCK = threading.Lock()
_LOADED: dict[Path, ctypes.CDLL] = {}


def build_library() -> Path:
    """The cached shared library (compiled on first use, about 5 s)."""
    return build_grpc_library("grpc", SOURCE, LIBRARY, CXXFLAGS, NativeBuildError, _FIX)


def load_library() -> ctypes.CDLL:
    """The native front end loaded once per process, with its C signatures declared."""
    path = build_library()
    with _LOCK:
        if path not in _LOADED:
            _LOADED[path] = _declare(ctypes.CDLL(str(path)))
        return _LOADED[path]


def native_available() -> bool:
    """Whether the native front end can be built (or is built) here."""
    try:
        load_library()
    except NativeBuildError:
        return False
    return True


def _declare(dll: ctypes.CDLL) -> ctypes.CDLL:
    c = ctypes
    dll.hepinfer_grpc_start.argtypes = [
        c.c_char_p,  # address
        c.c_char_p,  # methods, '\n'-separated
        c.c_int,  # index of the streaming method
        c.c_int,  # max message bytes
        c.c_int,  # completion-queue threads
        c.c_int,  # number of channel arguments
        c.POINTER(c.c_char_p),
        c.POINTER(c.c_longlong),
        c.POINTER(c.c_char_p),
        c.POINTER(c.c_int),
        c.POINTER(c.c_char_p),  # per method: header key a call needs (NULL: open)
        c.POINTER(c.c_char_p),  # per method: its value
        c.POINTER(c.c_char_p),  # per method: the refusal message
        c.c_char_p,  # TLS certificate chain (PEM) or NULL
        c.c_char_p,  # TLS private key (PEM) or NULL
        c.c_char_p,  # TLS root certificates for client certificates (PEM) or NULL
        c.c_int,  # TLS: require client certificates
        c.POINTER(c.c_int),  # chosen port (out)
        c.c_char_p,  # error text (out)
        c.c_size_t,
    ]
    dll.hepinfer_grpc_start.restype = c.c_void_p
    dll.hepinfer_grpc_fd.argtypes = [c.c_void_p]
    dll.hepinfer_grpc_fd.restype = c.c_int
    dll.hepinfer_grpc_received.argtypes = [c.c_void_p]
    dll.hepinfer_grpc_received.restype = c.c_ulonglong
    dll.hepinfer_grpc_open_calls.argtypes = [c.c_void_p]
    dll.hepinfer_grpc_open_calls.restype = c.c_int
    dll.hepinfer_grpc_take.argtypes = [
        c.c_void_p,
        c.c_int,
        c.POINTER(c.c_ulonglong),
        c.POINTER(c.c_int),
        c.POINTER(c.c_void_p),
        c.POINTER(c.c_ulonglong),
    ]
    dll.hepinfer_grpc_take.restype = c.c_int
    dll.hepinfer_grpc_respond.argtypes = [
        c.c_void_p,
        c.c_int,
        c.POINTER(c.c_ulonglong),
        c.POINTER(c.c_int),
        c.POINTER(c.c_char_p),
        c.POINTER(c.c_char_p),
        c.POINTER(c.c_ulonglong),
    ]
    dll.hepinfer_grpc_respond.restype = None
    dll.hepinfer_grpc_shutdown.argtypes = [c.c_void_p, c.c_int]
    dll.hepinfer_grpc_shutdown.restype = None
    dll.hepinfer_grpc_destroy.argtypes = [c.c_void_p]
    dll.hepinfer_grpc_destroy.restype = None
    u64 = c.c_ulonglong
    dll.hepinfer_lane_open.argtypes = [
        c.c_void_p,
        c.c_char_p,
        c.c_char_p,
        c.c_int,
        c.c_int,
        c.c_int,
    ]
    dll.hepinfer_lane_open.restype = u64
    dll.hepinfer_lane_close.argtypes = [c.c_void_p, u64]
    dll.hepinfer_lane_close.restype = None
    dll.hepinfer_lane_plan.argtypes = [
        c.c_void_p,
        u64,
        c.c_char_p,  # key
        c.c_size_t,
        c.c_int,  # inputs
        c.POINTER(u64),  # their raw sizes
        c.c_char_p,  # the plan's pickle opcodes
        c.c_size_t,
        c.c_longlong,  # batch
    ]
    dll.hepinfer_lane_plan.restype = None
    dll.hepinfer_lane_acquire.argtypes = [c.c_void_p, u64]
    dll.hepinfer_lane_acquire.restype = c.c_int
    dll.hepinfer_lane_release.argtypes = [c.c_void_p, u64]
    dll.hepinfer_lane_release.restype = None
    dll.hepinfer_lane_stats.argtypes = [c.c_void_p, u64, c.POINTER(u64), c.c_int]
    dll.hepinfer_lane_stats.restype = c.c_int
    dll.hepinfer_lane_answered.argtypes = [c.c_void_p, u64]
    dll.hepinfer_lane_answered.restype = u64
    return dll
