"""The native Dense kernel (`native_dense.cpp`): the emulator's Dense arithmetic in C++.

`hepinfer.ops.dense` defines every product cast to the accumulator type, the sums and the
result cast in numpy; this kernel computes the same bits (tests compare them on random
types of every quantisation and overflow mode). The emulator runs Dense nodes and chains of
Dense (+ ReLU / Linear) nodes here (`hepinfer.emulate.fuse`), and lends the kernel to the
other ops' Dense sums (convolutions) through `hepinfer.ops.runtime`. The kernel takes a whole
batch in one ctypes call (the GIL is released), splits it over threads and skips zero inputs.

Engines (`hepinfer.knobs.Engine`; `CompiledModel.predict(x, engine=...)`, or
`$HEPINFER_ENGINE` as the default):

- `auto` (default): the native kernel where a layer's types allow it and g++ is there,
  numpy otherwise;
- `numpy`: numpy only;
- `native`: like `auto`, but a missing compiler or a failed build is an error instead of a
  silent fallback. Layers whose bit widths the kernel cannot hold exactly (products or
  accumulators wider than 62 bits, WRAP with saturation bits) still run in numpy.

The library is compiled once per machine with the system g++ (`$CXX`), `-O3` and no `-march`
flag, cached by a hash of source, flags and compiler under `$HEPINFER_CACHE/native/`
(default `~/.cache/hepinfer`). A baseline build reports the CPU's instruction set; where the
CPU has AVX2 or AVX-512, a second build with those flags is loaded instead (a separate
library, so the baseline code never contains wider instructions); `$HEPINFER_NATIVE_ISA`
(0 baseline, 1 AVX2, 2 AVX-512) caps the level. A batch is split over up to
`$HEPINFER_NATIVE_THREADS` threads (default: the CPU count, at most 8).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepinfer.cache import cached_build, compiler_id
from hepinfer.errors import HepinferError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import IntArray
from hepinfer.knobs import Engine

SOURCE = Path(__file__).with_name("native_dense.cpp")
CXXFLAGS = ("-O3", "-DNDEBUG", "-std=c++17", "-fPIC", "-shared", "-pthread")
ISA_FLAGS = {
    0: (),
    1: ("-mavx2", "-mfma"),
    2: ("-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl"),
}
_QUANT = {q: i for i, q in enumerate(Quant)}  # the C++ enum follows Quant's order
_OVERFLOW = {Overflow.WRAP: 0, Overflow.SAT: 1, Overflow.SAT_ZERO: 2, Overflow.SAT_SYM: 3}
_THREADS_ENV = os.environ.get("HEPINFER_NATIVE_THREADS", "")
THREADS = int(_THREADS_ENV) if _THREADS_ENV.isdigit() and int(_THREADS_ENV) > 0 else 0
THREADS = THREADS or max(1, min(8, os.cpu_count() or 1))

log = logging.getLogger(__name__)

_engine: ContextVar[Engine | None] = ContextVar("hepinfer_engine", default=None)
_LOCK = threading.Lock()
_LIB: list[ctypes.CDLL | None] = []  # [] not tried yet; [None] unavailable
_REASON: list[str] = []


class NativeError(HepinferError):
    """The native kernel was asked for (engine='native') but cannot be built or loaded."""


def check_engine(name: Engine | str) -> Engine:
    """The `Engine` named by `name` (a member or its spelling), else ConfigError."""
    return Engine.parse(name, "engine")


def current_engine() -> Engine:
    """The engine in effect: the innermost `use_engine`, else `$HEPINFER_ENGINE`, else auto."""
    engine = _engine.get()
    if engine is None:
        name = os.environ.get("HEPINFER_ENGINE", "") or Engine.AUTO
        return Engine.parse(name, "$HEPINFER_ENGINE")
    return engine


@contextlib.contextmanager
def use_engine(engine: Engine | None) -> Iterator[None]:
    """Run the enclosed emulation with `engine` (None: keep the current one)."""
    if engine is None:
        yield
        return
    token = _engine.set(engine)
    try:
        yield
    finally:
        _engine.reset(token)


# ------------------------------------------------------------------------------ building
def _build(cxx: str, isa: int) -> Path:
    flags = (*CXXFLAGS, *ISA_FLAGS[isa], f"-DHEPINFER_ISA={isa}")
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(f"\0{compiler_id(cxx)}\0{' '.join(flags)}".encode())

    def command(_: Path, output: Path) -> list[str]:
        return [cxx, *flags, str(SOURCE), "-o", str(output)]

    def fail(stderr: str) -> NativeError:
        return NativeError(f"g++ failed building the native Dense kernel:\n{stderr}")

    return cached_build("native", h.hexdigest()[:24], "libhepinfer_dense.so", command, fail)


def _load(path: Path) -> ctypes.CDLL:
    dll = ctypes.CDLL(str(path))
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    dll.hepinfer_dense_chain.argtypes = [ptr, i64, i64, ptr, ptr, ptr, i64, ptr]
    dll.hepinfer_dense_chain.restype = ctypes.c_int
    dll.hepinfer_native_isa.restype = ctypes.c_int
    dll.hepinfer_native_build_isa.restype = ctypes.c_int
    dll.hepinfer_program_new.argtypes = [ptr, ptr, ptr, ptr]
    dll.hepinfer_program_new.restype = ptr
    dll.hepinfer_program_free.argtypes = [ptr]
    dll.hepinfer_program_free.restype = None
    dll.hepinfer_program_run.argtypes = [ptr, ptr, i64, i64, ptr]
    dll.hepinfer_program_run.restype = ctypes.c_int
    return dll


def _wider(cxx: str, base: ctypes.CDLL) -> ctypes.CDLL:
    """The build for the widest instruction set the CPU runs (the baseline if that fails:
    e.g. a compiler without AVX-512 flags).
    """
    isa = int(base.hepinfer_native_isa())
    cap = os.environ.get("HEPINFER_NATIVE_ISA", "")
    if cap.isdigit():
        isa = min(isa, int(cap))
    if isa == 0:
        return base
    try:
        return _load(_build(cxx, isa))
    except (NativeError, OSError) as exc:
        log.info("native Dense kernel: no %s build (%s); using the baseline build", isa, exc)
        return base


def library() -> ctypes.CDLL | None:
    """The loaded kernel library (built on first use), or None where it cannot be built."""
    with _LOCK:
        if not _LIB:
            try:
                cxx = os.environ.get("CXX", "g++")
                if shutil.which(cxx) is None:
                    msg = f"C++ compiler {cxx!r} not found (install g++ or set CXX)"
                    raise NativeError(msg)
                base = _load(_build(cxx, 0))
                _LIB.append(_wider(cxx, base))
            except (NativeError, OSError) as exc:
                log.info("native Dense kernel unavailable, using numpy: %s", exc)
                _REASON.append(str(exc))
                _LIB.append(None)
        return _LIB[0]


def instruction_set() -> str | None:
    """The instruction set of the loaded library ('avx512', 'avx2', 'baseline'), or None."""
    dll = library()
    if dll is None:
        return None
    return {2: "avx512", 1: "avx2"}.get(int(dll.hepinfer_native_build_isa()), "baseline")


def require() -> ctypes.CDLL | None:
    """The library, or None (engine `auto`); NativeError where engine `native` is in effect."""
    dll = library()
    if dll is None and current_engine() is Engine.NATIVE:
        reason = _REASON[0] if _REASON else "unknown reason"
        msg = f"engine='native' asked for, but the native kernel is unavailable: {reason}; use engine='auto' or 'numpy'"
        raise NativeError(msg)
    return dll


# ------------------------------------------------------------------------------ planning
@dataclass(frozen=True)
class Plan:
    """How the kernel runs one layer: lane width and the two fractional-bit shifts."""

    lanes: int  # 16 (tiles in int16 lanes, single rows in int32), 32 or 64
    shift: int  # product frac - accumulator frac (> 0: quantise; <= 0: exact left shift)
    res_shift: int  # accumulator frac - result frac


def magnitude_bits(t: FixedType) -> int:
    """|mantissa| <= 2**magnitude_bits(t) for every value of `t`."""
    return t.width - int(t.signed)


def _lanes_ok(lanes: int, pbits: int, k: int, ta: FixedType) -> bool:
    half = lanes - 1  # |value| < 2**half in a signed lane
    if pbits > half - 1:
        return False
    if k > 0:  # p + 2**k - 1 must stay in the lane
        if (1 << pbits) + (1 << k) > 1 << half:
            return False
    elif ta.overflow is Overflow.WRAP:
        if -k >= lanes:
            return False
    elif pbits - k > half - 1:  # the shifted product must be exact before it saturates
        return False
    if ta.overflow is Overflow.WRAP:
        return ta.width <= lanes
    return ta.width <= lanes - 2


def _fits_int16(t: FixedType) -> bool:
    return t.width <= (16 if t.signed else 15)


def _narrow_ok(tx: FixedType, tw: FixedType, ta: FixedType, k: int) -> bool:
    """Whether int16 lanes compute the layer's sums exactly (see `native_dense.cpp`, 16-bit
    lanes): inputs and weights fit int16 (so a product is exact in 32 bits), the accumulator
    WRAPs at <= 16 bits (so its sums may be taken mod 2**16), and each product's cast to it
    is an exact left shift or TRN / RND with a shift of 1..15 bits.
    """
    if not (_fits_int16(tx) and _fits_int16(tw)):
        return False
    if ta.overflow is not Overflow.WRAP or ta.width > 16:
        return False
    return k <= 0 or (k <= 15 and ta.quant in (Quant.TRN, Quant.RND))


def plan(tx: FixedType, tw: FixedType, ta: FixedType, tr: FixedType | None) -> Plan | None:
    """The kernel's plan for a layer with these types, or None when it cannot be exact."""
    if ta.sat_bits or ta.width > 62 or (tr is not None and not cast_ok(ta, tr)):
        return None
    res_shift = 0 if tr is None else ta.frac - tr.frac
    pbits = magnitude_bits(tx) + magnitude_bits(tw)
    k = tx.frac + tw.frac - ta.frac
    if _narrow_ok(tx, tw, ta, k) and _lanes_ok(32, pbits, k, ta):  # rows run in int32
        return Plan(16, k, res_shift)
    for lanes in (32, 64):
        if _lanes_ok(lanes, pbits, k, ta):
            return Plan(lanes, k, res_shift)
    return None


def type_row(t: FixedType | None) -> list[int]:
    """A type's four descriptor fields (width, signed, quantisation, overflow; None: unused)."""
    if t is None:
        return [1, 1, 0, 0]
    return [t.width, int(t.signed), _QUANT[t.quant], _OVERFLOW[t.overflow]]


def cast_ok(src: FixedType, dst: FixedType) -> bool:
    """Whether the kernel can cast exact `src` values to `dst` in int64 without overflow."""
    if dst.sat_bits or dst.width > 62 or src.width > 62:
        return False
    sh = src.frac - dst.frac
    if sh > 0:
        return (1 << magnitude_bits(src)) + (1 << sh) <= 1 << 63  # the rounding addition
    return magnitude_bits(src) - sh <= 62


@dataclass(frozen=True)
class Layer:
    """One Dense layer for the kernel: mantissas and types (result/relu None to skip)."""

    weight: IntArray  # n_in x n_out mantissas of `tw`
    bias: IntArray  # n_out mantissas of the accumulator type
    tx: FixedType
    tw: FixedType
    ta: FixedType
    tr: FixedType | None = None
    relu: FixedType | None = None  # a fused activation's result type (needs tr)
    linear: bool = False  # the fused activation is linear (a cast), not ReLU


def describe(layer: Layer) -> list[int] | None:
    """The layer's row of the kernel's descriptor table, or None if it cannot run there."""
    p = plan(layer.tx, layer.tw, layer.ta, layer.tr)
    if p is None:
        return None
    row = [*layer.weight.shape, p.lanes, p.shift, *type_row(layer.ta)]
    if layer.tr is None:
        return [*row, 0, 0, *type_row(None), 0, 0, *type_row(None)]
    row += [1, p.res_shift, *type_row(layer.tr)]
    if layer.relu is None:
        return [*row, 0, 0, *type_row(None)]
    if not cast_ok(layer.tr, layer.relu):
        return None
    kind = 2 if layer.linear else 1
    return [*row, kind, layer.tr.frac - layer.relu.frac, *type_row(layer.relu)]


def supports(layers: Sequence[Layer]) -> bool:
    """Whether the kernel can run these layers exactly (bit widths permitting)."""
    return all(describe(layer) is not None for layer in layers)


def chain(xm: IntArray, layers: Sequence[Layer]) -> IntArray | None:
    """The last layer's output mantissas for a chain of Dense (+ReLU) layers computed in one
    native call, or None when the numpy engine is in effect or some layer cannot run
    natively (then nothing was computed). `xm`: batch x n_in mantissas of `layers[0].tx`.
    """
    if current_engine() is Engine.NUMPY or not layers:
        return None
    rows = [describe(layer) for layer in layers]
    if any(r is None for r in rows):
        return None
    dll = require()
    if dll is None:
        return None
    desc = np.ascontiguousarray(rows, dtype=np.int64)
    x = np.ascontiguousarray(xm, dtype=np.int64)
    keep = [
        np.ascontiguousarray(a, dtype=np.int64)
        for layer in layers
        for a in (layer.weight, layer.bias)
    ]
    ptrs = ctypes.c_void_p * len(layers)
    weights = ptrs(*[a.ctypes.data for a in keep[0::2]])
    biases = ptrs(*[a.ctypes.data for a in keep[1::2]])
    out = np.empty((x.shape[0], layers[-1].weight.shape[1]), dtype=np.int64)
    rc = dll.hepinfer_dense_chain(
        x.ctypes.data,
        x.shape[0],
        len(layers),
        desc.ctypes.data,
        weights,
        biases,
        THREADS,
        out.ctypes.data,
    )
    if rc != 0:
        msg = f"the native Dense kernel returned error {rc}"
        raise NativeError(msg)
    return out


def dense(
    xm: IntArray,
    wm: IntArray,
    bias: IntArray,
    types: tuple[FixedType, FixedType, FixedType, FixedType | None],
) -> IntArray | None:
    """One Dense layer's accumulators (or, with a result type, its results) computed
    natively, or None (numpy engine, or types the kernel cannot hold exactly).

    `types` = (input, weight, accumulator, result or None); `bias` already in the
    accumulator type.
    """
    tx, tw, ta, tr = types
    return chain(xm, [Layer(wm, bias, tx, tw, ta, tr)])
