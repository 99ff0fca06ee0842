"""Build the native gRPC front end with the system g++ and cache it by content hash."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

from hepinfer.cache import cached_build, compiler_id
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


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _toolchain() -> tuple[str, list[str], str]:
    """(compiler, gRPC compile and link flags, a text identifying both)."""
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        msg = f"C++ compiler {cxx!r} not found for the native gRPC front end: {_FIX}"
        raise NativeBuildError(msg)
    if shutil.which("pkg-config") is None:
        msg = f"pkg-config not found (it locates gRPC C++): {_FIX}"
        raise NativeBuildError(msg)
    flags = _run(["pkg-config", "--cflags", "--libs", "grpc++"])
    version = _run(["pkg-config", "--modversion", "grpc++"])
    if flags.returncode != 0:
        msg = f"gRPC C++ (pkg-config grpc++) not found: {flags.stderr.strip()}; {_FIX}"
        raise NativeBuildError(msg)
    ident = f"{compiler_id(cxx)}\0grpc++ {version.stdout.strip()}"
    return cxx, flags.stdout.split(), ident


def build_library() -> Path:
    """The cached shared library (compiled on first use, about 5 s)."""
    cxx, flags, ident = _toolchain()
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(f"{ident}\0{' '.join(CXXFLAGS)}\0{' '.join(flags)}".encode())

    def command(_: Path, output: Path) -> list[str]:
        return [cxx, *CXXFLAGS, str(SOURCE), "-o", str(output), *flags]

    def fail(stderr: str) -> NativeBuildError:
        return NativeBuildError(f"g++ failed building the native gRPC front end:\n{stderr}\n{_FIX}")

    return cached_build("grpc", h.hexdigest()[:24], LIBRARY, command, fail)


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
    return dll
