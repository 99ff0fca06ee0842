"""Cut a generated design at its pipeline registers into pieces that Yosys maps apart.

`rtl.build` writes one flat module. `split` puts the same logic into a few modules, each the
combinational logic of some consecutive pipeline stages and the registers that capture its
results, and a top module with the ports, the port registers, the valid chain and one
instance per piece. A piece's inputs and outputs are register outputs (or, for the last
stage, what the output register reads), so LUT mapping loses nothing across a cut that it
could have merged through a flip-flop; what it loses are the facts a flat run propagates
through registers (a register bit that is constant, two registers that hold the same value,
a register bit that no later stage reads: the piece still drives it as an output).
The generator registers no bit that its value range makes constant (a value that is never
negative is registered without its sign bit), which removes the main such fact.

The split reads the generated text (`templates/top.v.j2` and the netlist's declaration
lines): the stage of a wire is the latest stage of the signals it reads; a pipeline register
`x_rS` is read in stage `S` and captured at the end of stage `S-1`. A register addressing a
ROM stays with the ROM (Yosys merges it into the memory: a block RAM's synchronous read, as
in the flat design).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from hepinfer.errors import RtlError

_DECL = re.compile(r"^(\(\* keep \*\) )?(wire|reg)( signed)? (\[\d+:\d+\] )?([A-Za-z_]\w*)(.*)$")
_NAME = re.compile(r"[A-Za-z_]\w*")
_REG = re.compile(r"^\s*([A-Za-z_]\w*) <= (.*);$")
#: a pipeline register: `x_rS`, or `x_rS_q` (the bits of `x_rS` that are not constant)
_PIPE = re.compile(r"_r(\d+)(?:_q)?$")


@dataclass
class _Signal:
    """A declared signal: its declaration's type text and where it lives."""

    kind: str  # "wire" or "reg"
    type: str  # e.g. "signed [15:0] " (what follows wire/reg in a port declaration)
    stage: int = -1
    decl: list[str] = field(default_factory=list)  # its lines (declaration, ROM contents)
    rom: bool = False


@dataclass(frozen=True)
class Piece:
    """One module of the split design: the logic of `stages` and the registers it feeds."""

    name: str
    stages: tuple[int, ...]
    verilog: str
    #: the module's ports only, marked `(* blackbox *)`: what the top's synthesis reads
    interface: str

    @property
    def size(self) -> int:
        """Characters of Verilog (Yosys' time grows about linearly with it)."""
        return len(self.verilog)


@dataclass(frozen=True)
class Split:
    """The pieces and the top module that wires them."""

    top: str
    pieces: tuple[Piece, ...]
    top_verilog: str

    @property
    def verilog(self) -> str:
        """Every module in one text (the pieces first): the same circuit as the flat one."""
        return "".join(p.verilog for p in self.pieces) + self.top_verilog


def group(sizes: Sequence[int], jobs: int) -> list[list[int]]:
    """Consecutive stages in groups of about `sum(sizes) / jobs` (never less than the largest
    stage): few cuts, and pieces that `jobs` concurrent runs finish at about the same time.
    """
    if not sizes:
        return []
    target = max(*sizes, sum(sizes) / max(1, jobs))
    out: list[list[int]] = [[]]
    load = 0
    for k, size in enumerate(sizes):
        if out[-1] and load + size > target:
            out.append([])
            load = 0
        out[-1].append(k)
        load += size
    return out


def split(verilog: str, top: str, jobs: int | None = None) -> Split:
    """`verilog` (the one module `top` that `rtl.build` writes) as pieces and a top module.

    `jobs`: consecutive stages are grouped into pieces for that many concurrent Yosys runs
    (`group`); None: one piece per pipeline stage.
    """
    lines = verilog.splitlines()
    try:
        body_start = next(i for i, s in enumerate(lines) if s.startswith("assign valid_out"))
        always = next(i for i, s in enumerate(lines) if s == "always @(posedge clk) begin")
        end = next(i for i in range(always + 1, len(lines)) if lines[i] == "end")
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
    signals, exprs, order = _parse(body, top)
    ports: dict[str, str] = {}  # the input port registers read by the datapath: their D
    outs: list[str] = []  # the output registers' assignments
    for text in lines[always + 1 : end]:
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
    home = _homes(signals, exprs, order)
    n_stages = max(home.values(), default=0) + 1
    reads: dict[int, set[str]] = {k: set() for k in range(n_stages)}
    sizes = [0] * n_stages
    for name, where in home.items():
        reads[where].update(r for r in _NAME.findall(exprs[name]) if r in signals or r in ports)
        sizes[where] += sum(len(t) + 1 for t in signals[name].decl)
    for k in range(n_stages):  # a ROM is copied into every piece that reads it
        sizes[k] += sum(
            len(t) + 1 for r in reads[k] if r in signals and signals[r].rom for t in signals[r].decl
        )
    groups = group(sizes, jobs) if jobs is not None else [[k] for k in range(n_stages)]
    piece_of = {k: i for i, g in enumerate(groups) for k in g}
    where_of = {n: piece_of[s] for n, s in home.items()}
    read_by: list[set[str]] = [set().union(*(reads[k] for k in g)) for g in groups]
    read_by_top = {r for text in outs for r in _NAME.findall(text) if r in signals}

    pieces: list[Piece] = []
    instances: list[str] = []
    crossing: set[str] = set()
    for i, stages in enumerate(groups):
        mine = [n for n in order if where_of.get(n) == i]
        roms = sorted(r for r in read_by[i] if r in signals and signals[r].rom)
        inputs = sorted(r for r in read_by[i] if r in ports or (r in home and where_of[r] != i))
        needed = set(read_by_top).union(*(read_by[j] for j in range(len(groups)) if j != i))
        outputs = [n for n in mine if n in needed]
        crossing.update(inputs, outputs)
        name = f"{top}_piece{i}"
        decl = ["    input wire clk"]
        decl += [f"    input wire {widths.get(r) or signals[r].type}{r}" for r in inputs]
        decl += [f"    output wire {signals[n].type}o_{n}" for n in outputs]
        head = [f"module {name} (", ",\n".join(decl), ");"]
        out = list(head)
        for r in roms:
            out.extend(signals[r].decl)
        for n in mine:
            out.extend(signals[n].decl)
        out.extend(f"assign o_{n} = {n};" for n in outputs)
        regs = [n for n in mine if signals[n].kind == "reg"]
        if regs:
            out.append("always @(posedge clk) begin")
            out.extend(f"    {n} <= {exprs[n]};" for n in regs)
            out.append("end")
        out.append("endmodule")
        stub = ["(* blackbox *)", *head, "endmodule"]
        pieces.append(Piece(name, tuple(stages), _text(out), _text(stub)))
        conns = [".clk(clk)"] + [f".{r}({r})" for r in inputs] + [f".o_{n}({n})" for n in outputs]
        instances.append(f"{name} u_piece{i} ({', '.join(conns)});")

    top_lines = list(header)
    top_lines.extend(f"wire {signals[n].type}{n};" for n in sorted(crossing - set(ports)))
    top_lines.extend(instances)
    top_lines.append("always @(posedge clk) begin")
    top_lines.extend(f"    {n} <= {src};" for n, src in ports.items())
    top_lines.extend(outs)
    top_lines.extend(lines[end:])
    return Split(top, tuple(pieces), _text(top_lines))


def _text(lines: Sequence[str]) -> str:
    return "\n".join(lines) + "\n"


def _parse(body: Sequence[str], top: str) -> tuple[dict[str, _Signal], dict[str, str], list[str]]:
    """The declarations of the module body: signals, wire expressions, declaration order."""
    signals: dict[str, _Signal] = {}
    exprs: dict[str, str] = {}  # wire -> its expression; reg -> its D input (added later)
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
    return signals, exprs, order


def _homes(signals: dict[str, _Signal], exprs: dict[str, str], order: list[str]) -> dict[str, int]:
    """The stage whose module holds each signal: a wire its stage, a register the stage whose
    result it captures (one before the stage that reads it), a ROM's address register the
    ROM's stage.
    """

    def stage_of(name: str) -> int:
        sig = signals.get(name)
        if sig is None or sig.rom:
            return 0
        if sig.stage < 0:
            if sig.kind == "reg":  # x_rS: read in stage S
                m = _PIPE.search(name)
                if m is None:
                    msg = f"register {name!r} is not a pipeline register x_rS"
                    raise RtlError(msg)
                sig.stage = int(m.group(1))
            else:
                refs = [r for r in _NAME.findall(exprs[name]) if r in signals]
                sig.stage = max((stage_of(r) for r in refs), default=0)
        return sig.stage

    for name in order:
        stage_of(name)
    home = {
        n: (s.stage - 1 if s.kind == "reg" else s.stage) for n, s in signals.items() if not s.rom
    }
    for name, expr in exprs.items():
        refs = _NAME.findall(expr)
        if signals[name].kind == "wire" and any(r in signals and signals[r].rom for r in refs):
            # the address register, read directly or through the wire `x_rS` that puts the
            # constant sign bit above `x_rS_q`
            regs = [r for r in refs if r in signals and signals[r].kind == "reg"]
            regs += [
                q
                for r in refs
                if r in signals and signals[r].kind == "wire" and _PIPE.search(r)
                for q in _NAME.findall(exprs[r])
                if q in signals and signals[q].kind == "reg"
            ]
            for r in regs:
                if not signals[r].rom:
                    home[r] = signals[r].stage
    return home
