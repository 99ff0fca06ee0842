"""Build the C simulation of a project with the system g++ and run it through a C ABI.

The top function and the C ABI are compiled as one translation unit (the ap_types headers
parsed once). The shared library is cached by a hash of the generated C++ (weights excluded:
they are read at run time from `firmware/weights/*.bin`), the header set and the compiler, under
`$HEPINFER_CACHE/csim/<hash>/` (default `~/.cache/hepinfer`). A second build of the same code
is a dictionary look-up; models that differ only in weights share one library.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hepinfer.cache import cache_dir, cached_build, compiler_id
from hepinfer.errors import HlsError
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.hls.writer import Project, templates_dir
from hepinfer.knobs import Headers

FloatArray = npt.NDArray[np.float64]
CXXFLAGS = ("-O2", "-DNDEBUG", "-std=c++14", "-fPIC", "-shared", "-DHEPINFER_LOAD_WEIGHTS")

_LOCK = threading.Lock()
_LIBS: dict[Path, tuple[ctypes.CDLL, threading.Lock]] = {}
_LOADED: dict[Path, str] = {}


def header_dir(headers: Headers) -> tuple[Headers, Path]:
    """(kind: XILINX or HEPINFER, folder) of the ap_types headers to compile with."""
    if headers is not Headers.HEPINFER:
        found = find_ap_types_headers()
        if found is not None:
            return Headers.XILINX, found
        if headers is Headers.XILINX:
            msg = (
                "Xilinx's ap_types headers were not found: set XILINX_HLS to a Vitis HLS "
                "installation or `pip install hls4ml` (it vendors them), or use headers='hepinfer'"
            )
            raise HlsError(msg)
    return Headers.HEPINFER, templates_dir() / "ap_types_lite"


def _compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        msg = f"C++ compiler {cxx!r} not found: install g++ or set CXX"
        raise HlsError(msg)
    return cxx


def code_hash(project: Project, kind: Headers, folder: Path, cxx: str) -> str:
    """Hash of everything the shared library depends on (not the weight values)."""
    h = hashlib.sha256()
    for rel in sorted(project.text):
        weights = rel.startswith("firmware/weights/")  # not compiled: read at run time
        if (rel.startswith(("firmware/", "csim/"))) and not weights:
            h.update(rel.encode() + b"\0" + project.text[rel].encode() + b"\0")
    h.update(f"{kind}\0{folder}\0{compiler_id(cxx)}\0{' '.join(CXXFLAGS)}".encode())
    return h.hexdigest()[:24]


def build(project: Project, headers: Headers = Headers.AUTO) -> Path:
    """The cached shared library of `project` (compiled once per code hash)."""
    kind, folder = header_dir(headers)
    cxx = _compiler()
    digest = code_hash(project, kind, folder, cxx)

    def command(work: Path, output: Path) -> list[str]:
        src = project.write(work / "src")
        # one translation unit: the headers (Xilinx's take most of the compile time) are
        # parsed and their templates instantiated once, not once per source file
        unity = work / "csim.cpp"
        parts = (src / "firmware" / f"{project.model.name}.cpp", src / "csim" / "bridge.cpp")
        unity.write_text("".join(f'#include "{part}"\n' for part in parts))
        return [
            cxx,
            *CXXFLAGS,
            f"-I{src / 'firmware'}",
            f"-I{folder}",
            str(unity),
            "-o",
            str(output),
        ]

    def fail(stderr: str) -> HlsError:
        return HlsError(f"g++ failed building the C simulation ({kind} headers):\n{stderr}")

    return cached_build("csim", digest, "libcsim.so", command, fail)


def _library(lib: Path) -> tuple[ctypes.CDLL, threading.Lock]:
    with _LOCK:
        if lib not in _LIBS:
            dll = ctypes.CDLL(str(lib))
            dll.hepinfer_load.argtypes = [ctypes.c_char_p]
            dll.hepinfer_load.restype = ctypes.c_int
            dll.hepinfer_run.argtypes = [
                ctypes.POINTER(ctypes.c_void_p),
                ctypes.POINTER(ctypes.c_void_p),
                ctypes.c_long,
            ]
            dll.hepinfer_run.restype = ctypes.c_int
            _LIBS[lib] = (dll, threading.Lock())
        return _LIBS[lib]


def weights_dir(project: Project) -> Path:
    """The weights of `project` written once under the cache, keyed by their content."""
    h = hashlib.sha256()
    for rel in sorted(project.binary):
        h.update(rel.encode() + b"\0" + project.binary[rel])
    folder = cache_dir() / "weights" / h.hexdigest()[:24]
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
            for rel, data in project.binary.items():
                (Path(tmp) / Path(rel).name).write_bytes(data)
            try:
                Path(tmp).rename(folder)
            except OSError:
                if not folder.is_dir():
                    raise
            else:
                Path(tmp).mkdir()  # let TemporaryDirectory clean up an empty folder
    return folder


@dataclass(frozen=True)
class Prepared:
    """A project ready to run: its shared library, weights folder and port sizes."""

    lib: Path
    weights: Path
    inputs: tuple[tuple[str, int, tuple[int, ...]], ...]  # (name, values per sample, shape)
    outputs: tuple[tuple[str, int, tuple[int, ...]], ...]


def prepare(project: Project, headers: Headers = Headers.AUTO) -> Prepared:
    """Build (or find in the cache) the library of `project` and write its weights."""
    model = project.model
    return Prepared(
        build(project, headers),
        weights_dir(project),
        tuple((t.name, t.size, t.shape) for t in model.inputs),
        tuple((t.name, t.size, t.shape) for t in model.outputs),
    )


def run(
    project: Project, inputs: list[FloatArray], headers: Headers = Headers.AUTO
) -> list[FloatArray]:
    """Run the C simulation on a batch (batch first per input); outputs as float64."""
    return run_prepared(prepare(project, headers), inputs)


def run_prepared(prepared: Prepared, inputs: list[FloatArray]) -> list[FloatArray]:
    """Run a prepared C simulation on a batch (batch first per input); outputs as float64."""
    dll, lock = _library(prepared.lib)
    if len(inputs) != len(prepared.inputs):
        msg = f"got {len(inputs)} input arrays; the model takes {len(prepared.inputs)}"
        raise HlsError(msg)
    n = inputs[0].shape[0]
    xs = []
    for (name, size, shape), x in zip(prepared.inputs, inputs, strict=True):
        arr = np.ascontiguousarray(x, dtype=np.float64).reshape(x.shape[0], -1)
        if arr.shape != (n, size):
            msg = f"input {name!r} has shape {x.shape}; expected (batch, {shape})"
            raise HlsError(msg)
        xs.append(arr)
    ys = [np.empty((n, size), dtype=np.float64) for _, size, _ in prepared.outputs]
    in_ptrs = (ctypes.c_void_p * len(xs))(*[a.ctypes.data for a in xs])
    out_ptrs = (ctypes.c_void_p * len(ys))(*[a.ctypes.data for a in ys])
    wdir = str(prepared.weights)
    with lock:
        if _LOADED.get(prepared.lib) != wdir:
            if dll.hepinfer_load(wdir.encode()) != 0:
                msg = f"the C simulation could not read its weights from {wdir}"
                raise HlsError(msg)
            _LOADED[prepared.lib] = wdir
        if dll.hepinfer_run(in_ptrs, out_ptrs, n) != 0:
            msg = "the C simulation returned an error"
            raise HlsError(msg)
    return [y.reshape(n, *shape) for y, (_, _, shape) in zip(ys, prepared.outputs, strict=True)]
