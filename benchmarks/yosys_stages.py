"""Yosys on the generated design cut at its pipeline registers, against the flat flow.

usage:
    python benchmarks/yosys_stages.py OUT_DIR [--model KERAS_3layer] [--no-flat]

`rtl.build` writes one flat module. Here the same logic is split into one module per
pipeline stage whose ports are register outputs (each stage module holds the combinational
logic of one stage and the registers that capture its results; a register addressing a ROM
stays with the ROM, so that Yosys still makes it a block RAM's synchronous read): LUT mapping
never crosses a flip-flop, so the cut loses no optimisation ABC could make. Each stage module
is synthesised in its own Yosys run (`hepinfer.rtl.synth.synth_script`, which has no I/O or
clock buffers), the top (port registers, valid chain) with the stages as black boxes;
the cells are added up and compared with one flat run of the same script
(`hepinfer.rtl.synth.synth_script`). CPU = user + system of every Yosys run and its ABC child.

The split works on the generated text (`templates/top.v.j2` and the netlist's declaration
lines): the stage of a wire is the latest stage of the signals it reads; a pipeline register
`x_rS` is read in stage `S` and captured at the end of stage `S-1`.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.errors import RtlError
from hepinfer.rtl.synth import family, parse_stat, synth_script, yosys

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rtl import DATA

_DECL = re.compile(r"^(\(\* keep \*\) )?(wire|reg)( signed)? (\[\d+:\d+\] )?([A-Za-z_]\w*)(.*)$")
_NAME = re.compile(r"[A-Za-z_]\w*")
_REG = re.compile(r"^\s*([A-Za-z_]\w*) <= (.*);$")


@dataclass
class _Signal:
    """A declared signal: its declaration's type text and where it lives."""

    kind: str  # "wire" or "reg"
    type: str  # e.g. "signed [15:0] " (what follows wire/reg in a port declaration)
    stage: int = -1
    decl: list[str] = field(default_factory=list)  # its lines (declaration, ROM contents)
    rom: bool = False


@dataclass(frozen=True)
class StageModules:
    """The split design: one Verilog text per stage module and the top that wires them."""

    top: str
    stages: tuple[tuple[str, str], ...]  # (module name, its Verilog)
    top_verilog: str

    @property
    def verilog(self) -> str:
        """Every module in one text (the stage modules first)."""
        return "".join(text for _, text in self.stages) + self.top_verilog


def split(verilog: str, top: str) -> StageModules:
    """`verilog` (one module `top` as `rtl.build` writes it) as one module per pipeline
    stage and a top module with the ports, the port registers and the valid chain.
    """
    lines = verilog.splitlines()
    try:
        body_start = next(i for i, s in enumerate(lines) if s.startswith("assign valid_out"))
        always = next(i for i, s in enumerate(lines) if s == "always @(posedge clk) begin")
    except StopIteration:
        msg = f"the Verilog of {top!r} is not a design written by hepinfer.rtl.build"
        raise RtlError(msg) from None
    header, body = lines[: body_start + 1], lines[body_start + 1 : always]
    # the port registers' widths (`reg [N:0] in_x_r;`, unsigned)
    widths = {
        m.group(2): f"{m.group(1)} "
        for m in (re.match(r"^reg (\[\d+:\d+\]) (\w+);$", t) for t in header)
        if m
    }
    end = next(i for i in range(always + 1, len(lines)) if lines[i] == "end")
    assigns = lines[always + 1 : end]
    trailer = lines[end:]

    signals: dict[str, _Signal] = {}
    exprs: dict[str, str] = {}  # wire -> its expression; reg -> its D input
    order: list[str] = []
    rom: str | None = None
    for text in body:
        if not text.strip():
            continue
        if rom is not None:  # a ROM's contents, up to its `end`
            signals[rom].decl.append(text)
            if text == "end":
                rom = None
            continue
        if text == "initial begin":
            rom = order[-1]
            signals[rom].decl.append(text)
            continue
        m = _DECL.match(text)
        if m is None:
            msg = f"unexpected line in the Verilog of {top!r}: {text!r}"
            raise RtlError(msg)
        _keep, kind, signed, width, name, rest = m.groups()
        signals[name] = _Signal(
            kind, f"{(signed or '').strip()} {width or ''}".lstrip(), -1, [text]
        )
        order.append(name)
        if kind == "wire":
            exprs[name] = rest.split(" = ", 1)[1].rstrip(";")
        elif rest.startswith(" ["):
            signals[name].rom = True
    ports: dict[str, str] = {}  # top-level registers read by the datapath, and their D inputs
    outs: list[str] = []
    for text in assigns:
        m = _REG.match(text)
        if m is None:
            msg = f"unexpected register assignment in {top!r}: {text!r}"
            raise RtlError(msg)
        name, src = m.groups()
        if name in signals:
            exprs[name] = src
        elif name.startswith("in_"):
            ports[name] = src
        else:
            outs.append(text)

    def stage_of(name: str) -> int:
        sig = signals.get(name)
        if sig is None or sig.rom:
            return 0
        if sig.stage < 0:
            if sig.kind == "reg":  # x_rS: read in stage S
                sig.stage = int(name.rsplit("_r", 1)[1])
            else:
                refs = [r for r in _NAME.findall(exprs[name]) if r in signals]
                sig.stage = max((stage_of(r) for r in refs), default=0)
        return sig.stage

    for name in order:
        stage_of(name)
    # each signal's home module: a wire its stage, a register the stage whose result it holds
    home = {
        n: (s.stage - 1 if s.kind == "reg" else s.stage) for n, s in signals.items() if not s.rom
    }
    # a register that addresses a ROM stays with the ROM (Yosys merges it into the memory:
    # a block RAM's synchronous read, as in the flat design)
    for name, expr in exprs.items():
        refs = _NAME.findall(expr)
        if signals[name].kind == "wire" and any(r in signals and signals[r].rom for r in refs):
            for r in refs:
                if r in signals and signals[r].kind == "reg" and not signals[r].rom:
                    home[r] = signals[r].stage
    n_stages = max(home.values(), default=0) + 1
    reads: dict[int, set[str]] = {k: set() for k in range(n_stages)}
    for name, where in home.items():
        reads[where].update(r for r in _NAME.findall(exprs[name]) if r in signals or r in ports)
    read_by_top = {r for text in outs for r in _NAME.findall(text) if r in signals}

    modules: list[tuple[str, str]] = []
    instances: list[str] = []
    crossing: set[str] = set()
    for k in range(n_stages):
        mine = [n for n in order if home.get(n) == k]
        roms = sorted(r for r in reads[k] if r in signals and signals[r].rom)
        inputs = sorted(r for r in reads[k] if r in ports or (r in home and home[r] != k))
        needed = set(read_by_top)
        for j in range(n_stages):
            if j != k:
                needed |= reads[j]
        outputs = [n for n in mine if n in needed]
        crossing.update(inputs)
        crossing.update(outputs)
        name = f"{top}_stage{k}"
        text_out: list[str] = []
        port_decl = ["    input wire clk"]
        port_decl += [f"    input wire {widths.get(r) or signals[r].type}{r}" for r in inputs]
        port_decl += [f"    output wire {signals[n].type}o_{n}" for n in outputs]
        text_out.append(f"module {name} (")
        text_out.append(",\n".join(port_decl))
        text_out.append(");")
        for r in roms:
            text_out.extend(signals[r].decl)
        for n in mine:
            text_out.extend(signals[n].decl)
        text_out.extend(f"assign o_{n} = {n};" for n in outputs)
        regs = [n for n in mine if signals[n].kind == "reg"]
        if regs:
            text_out.append("always @(posedge clk) begin")
            text_out.extend(f"    {n} <= {exprs[n]};" for n in regs)
            text_out.append("end")
        text_out.append("endmodule")
        modules.append((name, "\n".join(text_out) + "\n"))
        conns = [".clk(clk)"] + [f".{r}({r})" for r in inputs] + [f".o_{n}({n})" for n in outputs]
        instances.append(f"{name} u_stage{k} ({', '.join(conns)});")

    top_lines = list(header)
    top_lines.extend(f"wire {signals[n].type}{n};" for n in sorted(crossing - set(ports)))
    top_lines.extend(instances)
    top_lines.append("always @(posedge clk) begin")
    top_lines.extend(f"    {n} <= {src};" for n, src in ports.items())
    top_lines.extend(outs)
    top_lines.extend(trailer)
    return StageModules(top, tuple(modules), "\n".join(top_lines) + "\n")


def yosys_run(script: str, work: Path, name: str) -> dict[str, Any]:
    """One Yosys run of `script` plus `stat` in `work`: cells, CPU and wall seconds."""
    stat = work / f"{name}.stat"
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [*yosys(), "-q", "-l", str(work / f"{name}.log"), "-p", f"{script}; tee -q -o {stat} stat"],
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "cells": parse_stat(stat.read_text()),
        "cpu_s": cpu,
        "wall_s": time.perf_counter() - start,
    }


def synth_stages(parts: StageModules, work: Path, fam: str) -> dict[str, Any]:
    """Every stage module in its own Yosys run, then the top with the stages as black boxes."""
    files, runs = [], {}
    for name, text in parts.stages:
        path = work / f"{name}.v"
        path.write_text(text)
        files.append(path)
        script = synth_script(fam, name)  # no I/O or clock buffers (SYNTH_FLAGS)
        runs[name] = yosys_run(f"read_verilog -sv {path}; {script}", work, name)
    top = work / "top.v"
    top.write_text(parts.top_verilog)
    libs = " ".join(str(f) for f in files)
    script = f"read_verilog -sv -lib {libs}; read_verilog -sv {top}; "
    runs["top"] = yosys_run(script + synth_script(fam, parts.top), work, "top")
    stages = {name for name, _ in parts.stages}
    cells: dict[str, int] = {}
    for run in runs.values():
        for k, v in run["cells"].items():
            if k not in stages:
                cells[k] = cells.get(k, 0) + v
    return {
        "cells": cells,
        "cpu_s": sum(r["cpu_s"] for r in runs.values()),
        "wall_s": sum(r["wall_s"] for r in runs.values()),
        "runs": {k: round(r["cpu_s"], 1) for k, r in runs.items()},
    }


def summary(cells: dict[str, int]) -> dict[str, int]:
    """LUT (LUT1-6), FF, DSP, CARRY4 and the LUT sizes of a cell count."""
    out = {k: cells.get(k, 0) for k in ("LUT2", "LUT3", "LUT4", "LUT5", "LUT6")}
    out["LUT"] = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    out["FF"] = sum(v for k, v in cells.items() if re.fullmatch(r"FD[A-Z]*", k))
    out["DSP"] = cells.get("DSP48E2", 0)
    out["CARRY4"] = cells.get("CARRY4", 0)
    out["MUXF7-9"] = sum(cells.get(f"MUXF{i}", 0) for i in (7, 8, 9))
    out["RAMB18"] = cells.get("RAMB18E2", 0)
    return out


def main() -> int:
    import hepinfer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="work folder (Verilog, logs, stats)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--model", default="KERAS_3layer", help="Keras example (JSON name)")
    parser.add_argument("--precision", default="ap_fixed<16,6>", help="model precision")
    parser.add_argument("--no-flat", action="store_true", help="skip the flat run")
    args = parser.parse_args()
    keras = args.data / "hls4ml-example-models" / "keras" / f"{args.model}.json"
    model = hepinfer.compile(keras, {"Model": {"Precision": args.precision}})
    design = model.rtl_design()
    args.out.mkdir(parents=True, exist_ok=True)
    flat = args.out / f"{design.top}.v"
    flat.write_text(design.verilog)
    fam = family("xcvu13p")
    rows: dict[str, Any] = {"latency": design.latency, "counts": design.counts}
    if not args.no_flat:
        run = yosys_run(
            f"read_verilog -sv {flat}; {synth_script(fam, design.top)}", args.out, "flat"
        )
        rows["flat"] = {**summary(run["cells"]), "cpu_s": round(run["cpu_s"], 1)}
        print(json.dumps({"flat": rows["flat"]}), flush=True)
    parts = split(design.verilog, design.top)
    staged = synth_stages(parts, args.out, fam)
    rows["stages"] = {
        **summary(staged["cells"]),
        "cpu_s": round(staged["cpu_s"], 1),
        "runs": staged["runs"],
    }
    print(json.dumps({"stages": rows["stages"]}), flush=True)
    (args.out / "yosys_stages.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
