"""Turn a configured graph into one pipelined Verilog module (io_parallel, fully unrolled).

Each op module lowers itself through its `rtl(node, netlist, inputs)` hook (a list of `Val`,
one per element of each input tensor, in; one per output element, out); this module only
walks the graph, makes the ports and registers, and renders the templates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import numpy.typing as npt

from hepinfer._version import __version__
from hepinfer.errors import RtlError
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.netlist.arith import low_bits
from hepinfer.netlist.core import DelayModel, MultiplierRule, Netlist, Val
from hepinfer.ops import optional

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("hepinfer.rtl", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


@dataclass(frozen=True)
class Port:
    """One tensor on a port: `elements` mantissas of `type`, `width` bits each."""

    name: str
    port: str
    shape: tuple[int, ...]
    type: str
    width: int
    signed: bool
    frac: int
    bit_offset: int
    word_offset: int

    @property
    def elements(self) -> int:
        """Elements per sample."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def bits(self) -> int:
        """The port's width."""
        return self.elements * self.width

    @property
    def words(self) -> int:
        """32-bit words the port takes in the simulation files."""
        return -(-self.bits // 32)


@dataclass(frozen=True)
class RtlDesign:
    """A generated module: its Verilog and what a user needs to drive it."""

    top: str
    graph: str
    verilog: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    latency: int
    stages: int
    clock_period: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """A content hash of the Verilog (the simulation cache key)."""
        return hashlib.sha256(self.verilog.encode()).hexdigest()[:24]

    def manifest(self) -> dict[str, Any]:
        """The JSON manifest: ports, types, latency, initiation interval and counts."""

        def port(p: Port) -> dict[str, Any]:
            return {
                "name": p.name,
                "port": p.port,
                "shape": list(p.shape),
                "type": p.type,
                "element_bits": p.width,
                "bits": p.bits,
            }

        return {
            "generator": f"hepinfer {__version__}",
            "top": self.top,
            "graph": self.graph,
            "clock_period_ns": self.clock_period,
            "latency_cycles": self.latency,
            "initiation_interval": 1,
            "pipeline_stages": self.stages,
            "inputs": [port(p) for p in self.inputs],
            "outputs": [port(p) for p in self.outputs],
            "counts": self.counts,
            "interface": (
                "clk, rst (synchronous, active high; clears the valid pipeline only), valid_in; "
                "one sample per cycle; outputs valid when valid_out is high"
            ),
        }


def identifier(name: str) -> str:
    """A Verilog-safe identifier for a graph name."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", name) or "x"
    return f"n_{out}" if out[0].isdigit() else out


def supported_ops() -> list[str]:
    """The operators that have an RTL lowering."""
    from hepinfer.ops import MODULES

    return sorted(op.value for op, m in MODULES.items() if hasattr(m, "rtl") or op is Op.INPUT)


def build(
    graph: Graph,
    *,
    top: str = "hepinfer_top",
    clock_period: float = 5.0,
    pipeline: int | None = None,
    delays: DelayModel | None = None,
    rule: MultiplierRule | None = None,
) -> RtlDesign:
    """The Verilog of `graph` (configured: every tensor typed).

    `clock_period` (ns) places pipeline registers by the delay model; `pipeline` instead
    asks for about that many register stages inside the datapath (0: none, combinational
    between the input and output registers).
    """
    if pipeline is not None and pipeline < 0:
        msg = f"pipeline={pipeline}: the number of pipeline stages must be >= 0"
        raise RtlError(msg)
    if clock_period <= 0:
        msg = f"clock_period={clock_period}: the clock period (ns) must be positive"
        raise RtlError(msg)
    missing = [
        f"{n.name!r} ({n.op.value})"
        for n in graph.nodes
        if n.op is not Op.INPUT and optional(n.op, "rtl") is None
    ]
    if missing:
        msg = (
            f"the RTL generator cannot lower node(s) {', '.join(missing)} yet; it supports "
            f"{', '.join(supported_ops())} (io_parallel, Latency strategy). Use write_hls() "
            "for this model"
        )
        raise RtlError(msg)
    resource = [
        f"{n.name!r} ({n.op.value})"
        for n in graph.nodes
        if str(n.attrs.get("strategy", "")).lower() == "resource"
    ]
    if resource:
        msg = (
            f"node(s) {', '.join(resource)} use the Resource strategy (a loop of reuse_factor "
            "iterations over weights in memory), which the RTL generator does not build: it "
            "writes fully unrolled io_parallel logic (Latency strategy, II 1). Set Strategy: "
            "Latency for them, or use write_hls() for this model"
        )
        raise RtlError(msg)
    period = clock_period
    if pipeline is not None:
        depth = _depth(graph, delays or DelayModel(), rule or MultiplierRule())
        period = depth / (pipeline + 1) + 1e-9 if pipeline > 0 else float("inf")
    net = Netlist(period, delays or DelayModel(), rule or MultiplierRule())
    return _render(graph, net, top, clock_period)


def _depth(graph: Graph, delays: DelayModel, rule: MultiplierRule) -> float:
    """The combinational delay of the whole datapath (no registers)."""
    net = Netlist(float("inf"), delays, rule)
    values = _lower(graph, net, {})
    return max((v.delay for name in graph.outputs for v in values[name]), default=0.0)


def _lower(graph: Graph, net: Netlist, ports: dict[str, Port]) -> dict[str, list[Val]]:
    values: dict[str, list[Val]] = {}
    for node in graph.nodes:
        if node.op is Op.INPUT:
            t = _type(node.out.fixed, node.name)
            port = ports.get(node.name) or _port(node.name, "in", node.out.shape, t, 0, 0)
            values[node.name] = [
                net.port_input(
                    net.fresh(f"{port.port}_{e}"),
                    _element(f"{port.port}_r", e, t),
                    t.min_mantissa,
                    t.max_mantissa,
                    t.frac,
                )
                for e in range(port.elements)
            ]
            continue
        fn = optional(node.op, "rtl")
        tensors = [graph.node(i).out for i in node.inputs]
        for name, tensor in zip(node.inputs, tensors, strict=True):
            _type(tensor.fixed, name)
        out = fn(node, net, [values[i] for i in node.inputs], tensors)
        if len(out) != node.out.size:
            msg = (
                f"internal error: the RTL of {node.name!r} ({node.op.value}) gave {len(out)} "
                f"values for a tensor of {node.out.size}"
            )
            raise RtlError(msg)
        values[node.name] = out
    return values


def _element(port: str, e: int, t: FixedType) -> str:
    bits = f"{port}[{(e + 1) * t.width - 1}:{e * t.width}]"
    return bits if t.signed else f"{{1'b0, {bits}}}"


def _type(t: FixedType | None, name: str) -> FixedType:
    if t is None:
        msg = f"tensor {name!r} has no fixed-point type: compile the model first"
        raise RtlError(msg)
    return t


def _port(name: str, kind: str, shape: tuple[int, ...], t: FixedType, bit: int, word: int) -> Port:
    return Port(
        name=name,
        port=f"{kind}_{identifier(name)}",
        shape=tuple(int(d) for d in shape),
        type=str(t),
        width=t.width,
        signed=t.signed,
        frac=t.frac,
        bit_offset=bit,
        word_offset=word,
    )


def _ports(graph: Graph, names: Sequence[str], kind: str) -> tuple[Port, ...]:
    out = []
    bit = word = 0
    for name in names:
        node = graph.node(name)
        p = _port(name, kind, node.out.shape, _type(node.out.fixed, name), bit, word)
        out.append(p)
        bit += p.bits
        word += p.words
    return tuple(out)


def _render(graph: Graph, net: Netlist, top: str, clock_period: float) -> RtlDesign:
    inputs = _ports(graph, [n.name for n in graph.inputs], "in")
    outputs = _ports(graph, graph.outputs, "out")
    values = _lower(graph, net, {p.name: p for p in inputs})
    finals = {p.name: net.emit(f"{p.port}_c", values[p.name]) for p in outputs}
    stage = max((v.stage for vals in finals.values() for v in vals if v.const is None), default=0)
    stage = max(stage, net.max_stage)
    packed = []
    for p in outputs:
        vals = [net.at(v, stage) for v in finals[p.name]]
        packed.append(", ".join(low_bits(v, p.width) for v in reversed(vals)))
    latency = stage + 2  # the input register, `stage` datapath registers, the output register
    out_ports = [
        {**_fields(p), "packed": f"{{{text}}}"} for p, text in zip(outputs, packed, strict=True)
    ]
    verilog = _TEMPLATES.get_template("top.v.j2").render(
        top=top,
        version=__version__,
        graph=graph.name,
        stages=stage,
        latency=latency,
        inputs=[_fields(p) for p in inputs],
        outputs=out_ports,
        lines=net.lines,
        regs=net.regs,
    )
    counts = {
        "dsp_multipliers": net.counts.dsp_multipliers,
        "shift_add_multipliers": net.counts.shift_add_multipliers,
        "adders": net.counts.adders,
        "pipeline_register_bits": net.counts.registers_bits,
        "rom_bits": net.counts.rom_bits,
    }
    return RtlDesign(
        top=top,
        graph=graph.name,
        verilog=verilog,
        inputs=inputs,
        outputs=outputs,
        latency=latency,
        stages=stage,
        clock_period=clock_period,
        counts=counts,
    )


def _fields(p: Port) -> dict[str, Any]:
    return {
        "name": p.name,
        "port": p.port,
        "bits": p.bits,
        "elements": p.elements,
        "type": p.type,
        "bit_offset": p.bit_offset,
        "word_offset": p.word_offset,
    }


def render(name: str, **values: Any) -> str:
    """Render one of the package's templates."""
    return _TEMPLATES.get_template(name).render(**values)


def hex_lines(ports: Sequence[Port], values: dict[str, npt.NDArray[np.int64]]) -> list[str]:
    """One hex line per sample: every port's mantissas packed as the testbench reads them
    (`width` bits per element, element 0 and the first port in the low bits).
    """
    n = next(iter(values.values())).shape[0] if values else 0
    digits = max(1, -(-sum(p.bits for p in ports) // 4))
    rows = []
    for p in ports:
        m = np.asarray(values[p.name], dtype=np.int64).reshape(n, p.elements)
        rows.append((p, (m & ((1 << p.width) - 1)).tolist()))
    lines = []
    for i in range(n):
        word = 0
        for p, m in rows:
            for e, v in enumerate(m[i]):
                word |= v << (p.bit_offset + e * p.width)
        lines.append(f"{word:0{digits}x}")
    return lines


def write(
    design: RtlDesign,
    out_dir: str | Path,
    inputs: dict[str, npt.NDArray[np.int64]] | None = None,
    expected: dict[str, npt.NDArray[np.int64]] | None = None,
) -> Path:
    """Write the Verilog, the testbench, the file list and the manifest into `out_dir`.

    The testbench's vectors: `inputs` (mantissas by input name, (samples, elements)) go to
    `tb_input.hex`, `expected` (the emulator's output mantissas by output name) to
    `tb_expected.hex`; without `inputs`, one all-zero sample; without `expected`, the
    testbench checks only the latency.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{design.top}.v").write_text(design.verilog)
    if inputs is None:
        inputs = {p.name: np.zeros((1, p.elements), dtype=np.int64) for p in design.inputs}
    in_lines = hex_lines(design.inputs, inputs)
    in_bits = sum(p.bits for p in design.inputs)
    out_bits = sum(p.bits for p in design.outputs)
    concat = ", ".join(p.port for p in reversed(design.outputs))
    tb = render(
        "tb.v.j2",
        top=design.top,
        samples=len(in_lines),
        in_bits=in_bits,
        in_hex=-(-in_bits // 4),
        out_bits=out_bits,
        out_hex=-(-out_bits // 4),
        inputs=[_fields(p) for p in design.inputs],
        outputs=[_fields(p) for p in design.outputs],
        out_concat=concat,
        latency=design.latency,
        check=expected is not None,
        half_period=design.clock_period / 2,
    )
    (out / f"{design.top}_tb.v").write_text(tb)
    (out / "tb_input.hex").write_text("".join(f"{line}\n" for line in in_lines))
    if expected is not None:
        lines = hex_lines(design.outputs, expected)
        (out / "tb_expected.hex").write_text("".join(f"{line}\n" for line in lines))
    (out / "files.f").write_text(f"{design.top}.v\n")
    (out / "manifest.json").write_text(json.dumps(design.manifest(), indent=1) + "\n")
    return out
