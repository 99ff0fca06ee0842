"""The public compile API: `hepinfer.compile(model, config) -> CompiledModel`, `hepinfer.load`."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hepinfer.config import DEFAULT_PRECISION, Config
from hepinfer.errors import ConfigError, HepinferError, RtlError
from hepinfer.ir.graph import Graph
from hepinfer.ir.printer import format_graph, types_table
from hepinfer.knobs import Engine, Headers, Mode

if TYPE_CHECKING:
    from hepinfer.estimate.parts import Part
    from hepinfer.estimate.report import Estimate
    from hepinfer.rtl import RtlDesign, RtlSimResult, SynthReport

FloatArray = npt.NDArray[np.float64]
FORMAT_VERSION = 1


@functools.cache
def _plan_predict() -> Callable[[Graph, Any], dict[str, FloatArray]]:
    """`hepinfer.emulate.plan.predict`, imported once (the compiler is imported lazily)."""
    from hepinfer.emulate.plan import predict

    return predict


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A configured model: its IR graph (with every type chosen) and the configuration."""

    graph: Graph
    config: Config

    def predict(
        self, x: Any, mode: Mode | str = Mode.FIXED, engine: Engine | str | None = None
    ) -> FloatArray | dict[str, FloatArray]:
        """What the firmware outputs for inputs `x` (batch first), as float64.

        `mode='float'` (`hepinfer.knobs.Mode.FLOAT`) runs the float reference instead. A single-output model returns an
        array, otherwise a dict by output name. `engine`: 'auto' (default: the native C++
        kernel where g++ is available, numpy otherwise), 'numpy' or 'native' (an
        error when the kernel cannot be built), or a `hepinfer.knobs.Engine`; all give the
        same bits
        (`hepinfer.emulate.native`; `$HEPINFER_ENGINE` sets the default). With a native
        engine the first call binds the graph's plan (`hepinfer.emulate.plan`: its native
        programs, weights and tables), kept for later calls: a model whose every node has a
        native step, such as the jet taggers, costs one native call per `predict`.
        """
        if mode is Mode.FIXED and engine is None:  # the plan bound at the first call
            out = _plan_predict()(self.graph, x)
        else:
            from hepinfer.emulate.run import emulate

            out = emulate(self.graph, x, mode=mode, engine=engine)
        return out[self.graph.outputs[0]] if len(out) == 1 else out

    def trace(
        self, x: Any, mode: Mode | str = Mode.FIXED, engine: Engine | str | None = None
    ) -> dict[str, FloatArray]:
        """Every node's output for inputs `x`, by node name (in graph order)."""
        from hepinfer.emulate.run import emulate

        return emulate(self.graph, x, trace=True, mode=mode, engine=engine)

    def plan_fallbacks(self) -> list[tuple[str, str]] | None:
        """The nodes `predict` runs through their op's numpy kernel instead of the native
        plan, as (name, op) pairs (empty: every node is in a native program), or None where
        `predict` uses no plan (the numpy engine in effect, or no native kernel).
        """
        from hepinfer.emulate.plan import plan_for

        plan = plan_for(self.graph)
        return None if plan is None else [(n.name, n.op.value) for n in plan.fallbacks]

    def profile(self, x: Any, png: str | Path | None = None) -> str:
        """hls4ml-style numerical profile on inputs `x` as a text table (and a PNG plot)."""
        from hepinfer.emulate.profiling import format_table, plot, profile

        rows = profile(self.graph, x)
        if png is not None:
            plot(rows, png)
        return format_table(rows)

    def estimate(
        self,
        part: str | Part | None = None,
        clock_period: float | None = None,
        *,
        synthesise: bool = False,
        tool: str | None = None,
        jobs: int = 1,
    ) -> Estimate:
        """FPGA resources and latency of this model's firmware (`hepinfer.estimate.Estimate`).

        `part` (a name such as 'xcu250', or a `hepinfer.estimate.Part`) and `clock_period`
        (ns) default to the configuration's. See `hepinfer.estimate.from_graph`. With
        `synthesise`, the model's Verilog is also synthesised by Yosys and its cells join the
        estimate as the `synthesised` column (io_parallel models the RTL generator supports).
        `tool`: the HLS generation whose rules apply (`hepinfer.estimate.tools.TOOLS`; default
        the current Vitis). `jobs`: concurrent Yosys runs (`hepinfer.rtl.synth.synthesise`).
        """
        import dataclasses

        from hepinfer.estimate.from_graph import estimate_graph
        from hepinfer.estimate.report import Synthesised

        est = estimate_graph(self.graph, self.config, part, clock_period, tool=tool)
        if not synthesise:
            return est
        from hepinfer.rtl import build
        from hepinfer.rtl import synthesise as run_yosys

        design = build(self.graph, clock_period=est.clock_period)
        report = run_yosys(design, est.part.name, jobs=jobs)
        syn = Synthesised(
            tool=report.tool or "yosys",
            lut=report.luts,
            ff=report.ffs,
            dsp=report.dsps,
            bram18k=2 * report.brams,
            carry=report.carries,
            latency_cycles=design.latency,
            longest_path_cells=report.longest_path_cells,
        )
        return dataclasses.replace(est, synthesised=syn)

    def write_hls(
        self,
        out_dir: str | Path,
        *,
        project: str = "myproject",
        part: str | None = None,
        clock_period: float | None = None,
        io_type: str | None = None,
        test_inputs: Any = None,
    ) -> Path:
        """Write the Vitis HLS project (see `hepinfer.hls`); settings default to the config."""
        from hepinfer.emulate.run import emulate
        from hepinfer.hls import write_hls

        expected = None if test_inputs is None else emulate(self.graph, test_inputs)
        return write_hls(
            self.graph,
            out_dir,
            project=project,
            io_type=io_type or self.config.io_type.value,
            part=part or self.config.part,
            clock_period=clock_period or self.config.clock_period,
            test_inputs=test_inputs,
            test_outputs=expected,
        )

    def csim(
        self, x: Any, *, io_type: str | None = None, headers: Headers | str = Headers.AUTO
    ) -> FloatArray | dict[str, FloatArray]:
        """C simulation of the HLS project on inputs `x`: equals `predict(x)` bit for bit.

        Built once with g++ (cached by content hash); `headers`: 'auto' (Xilinx's ap_types
        when found, else hepinfer's own), 'xilinx' or 'hepinfer' (or a
        `hepinfer.knobs.Headers`).
        """
        from hepinfer.hls import csim

        out = csim(
            self.graph,
            x,
            io_type=io_type or self.config.io_type.value,
            headers=Headers.parse(headers, "headers"),
        )
        return out[self.graph.outputs[0]] if len(out) == 1 else out

    def rtl_design(
        self,
        *,
        top: str = "hepinfer_top",
        clock_period: float | None = None,
        pipeline: int | None = None,
    ) -> RtlDesign:
        """The Verilog of this model (io_parallel, fully unrolled, II 1) as an
        `hepinfer.rtl.RtlDesign`: pipeline registers follow a delay model to meet
        `clock_period` (ns; default the configuration's), or `pipeline` asks for about that
        many stages. `write_verilog`, `rtlsim` and `synth` take it to build it only once.
        """
        from hepinfer.knobs import IOType
        from hepinfer.rtl import build

        if self.config.io_type is not IOType.PARALLEL:
            msg = (
                f"IOType {self.config.io_type.value}: the RTL generator writes io_parallel "
                "logic only (whole tensors as wires, II 1); compile with IOType io_parallel, "
                "or use write_hls() for an io_stream project"
            )
            raise RtlError(msg)
        return build(
            self.graph,
            top=top,
            clock_period=clock_period or self.config.clock_period,
            pipeline=pipeline,
        )

    def write_verilog(
        self,
        out_dir: str | Path,
        *,
        top: str = "hepinfer_top",
        clock_period: float | None = None,
        pipeline: int | None = None,
        x: Any = None,
    ) -> RtlDesign:
        """Write synthesisable Verilog of this model (`rtl_design`): `<top>.v`, a
        self-checking testbench with its vectors (`tb_input.hex`: the inputs `x`, default one
        all-zero sample; `tb_expected.hex`: the emulator's outputs for them), `files.f` and
        `manifest.json` (latency in cycles, ports, types); returns the design.
        """
        from hepinfer.rtl import write

        design = self.rtl_design(top=top, clock_period=clock_period, pipeline=pipeline)
        if x is None:
            x = {n.name: np.zeros((1, *n.out.shape)) for n in self.graph.inputs}
        inputs = self._input_mantissas(x)
        out = self.predict(x)
        values = out if isinstance(out, dict) else {self.graph.outputs[0]: out}
        expected = {}
        for name in self.graph.outputs:
            t = self.graph.node(name).out.fixed
            if t is not None:
                expected[name] = np.asarray(t.to_mantissa(values[name]), dtype=np.int64)
        write(design, out_dir, inputs, expected)
        return design

    def _input_mantissas(self, x: Any) -> dict[str, Any]:
        from hepinfer.ir.inputs import bind_inputs

        data = bind_inputs(self.graph, x)
        return {
            node.name: np.asarray(node.out.fixed.to_mantissa(data[node.name]))
            for node in self.graph.inputs
            if node.out.fixed is not None
        }

    def rtlsim(
        self,
        x: Any,
        *,
        clock_period: float | None = None,
        pipeline: int | None = None,
        design: RtlDesign | None = None,
        optimize: bool = False,
    ) -> RtlSimResult:
        """Cycle-accurate simulation of the Verilog (Verilator) on inputs `x`: outputs equal
        `predict(x)` bit for bit; the result also has the measured latency and II. `design`:
        one already built (`rtl_design`, `write_verilog`), else built from the settings.
        `optimize`: build the simulator for throughput (g++ optimisation: much longer to
        build), not for a quick check.
        """
        from hepinfer.rtl import simulate

        if design is None:
            design = self.rtl_design(clock_period=clock_period, pipeline=pipeline)
        return simulate(design, self._input_mantissas(x), optimize=optimize)

    def synth(
        self,
        part: str | None = None,
        *,
        clock_period: float | None = None,
        pipeline: int | None = None,
        design: RtlDesign | None = None,
        jobs: int = 1,
    ) -> SynthReport:
        """Synthesise the Verilog with Yosys (`synth_xilinx` for the part's family);
        `design` as in `rtlsim`. `jobs` > 1: cut at the pipeline registers into pieces
        synthesised by that many concurrent Yosys runs (`hepinfer.rtl.synth.synthesise`).
        """
        from hepinfer.rtl import synthesise

        if design is None:
            design = self.rtl_design(clock_period=clock_period, pipeline=pipeline)
        return synthesise(design, part or self.config.part, jobs=jobs)

    def __str__(self) -> str:
        return format_graph(self.graph)

    def save(self, directory: str | Path) -> Path:
        """Write `graph.json`, `weights.npz` and `config.yml` into `directory`."""
        from hepinfer.ir.serialize import graph_to_dict

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        data, weights = graph_to_dict(self.graph)
        (out / "graph.json").write_text(json.dumps({"format": FORMAT_VERSION, **data}, indent=1))
        savez: Any = np.savez  # numpy's stub confuses **arrays with allow_pickle
        savez(out / "weights.npz", **weights)
        self.config.save(out / "config.yml")
        return out


def compile(
    model: Any,
    config: Config | Mapping[str, Any] | str | Path | None = None,
    *,
    calibration: Any = None,
    input_shape: Sequence[int] | None = None,
) -> CompiledModel:
    """Convert `model` (file path or model object), optimise it and apply `config`.

    `config`: a `Config`, an hls4ml-style dict, a YAML file path, or None: hepinfer's
    default (`Config()`: 16-bit weights/biases sized to their range, exact accumulators,
    `ap_fixed<16,6,AP_RND,AP_SAT>` results, BatchNorm folded; see `hepinfer.config`).
    `Config.hls4ml()` or a dict such as `{"Model": {"Precision": "ap_fixed<16,6>"}}` gives
    hls4ml's meaning instead. `calibration`: sample inputs for `auto` precisions.
    """
    from hepinfer.config import AUTO
    from hepinfer.frontends import load_model
    from hepinfer.ir.graph import Node
    from hepinfer.ops import spec
    from hepinfer.passes import run_passes
    from hepinfer.passes.apply_config import apply_config
    from hepinfer.passes.fold_batchnorm import fold_batchnorm
    from hepinfer.passes.fold_zero_pad import fold_zero_pad

    cfg = as_config(config)

    def may_fold(node: Node) -> bool:  # hls4ml folds BN only into `auto` results
        if cfg.fold_batchnorm is not None:
            return cfg.fold_batchnorm
        keys = (node.op.value, spec(node.op).hls_name)
        return cfg.precision(node.name, keys, "result") == AUTO

    loaded = load_model(model, input_shape)
    layers = {n.name: (n.op.value, spec(n.op).hls_name) for n in loaded.nodes}
    for n in loaded.nodes:  # a separable convolution's parts answer to its name too
        if "separable" in n.attrs:
            rank = n.weights["kernel"].ndim - 2
            layers.setdefault(str(n.attrs["separable"]), ("", f"SeparableConv{rank}D"))
        if "time_distributed" in n.attrs:  # hls4ml's wrapper and end marker: typed copies
            for alias in (str(n.attrs["time_distributed"]), f"{n.attrs['time_distributed']}_end"):
                layers.setdefault(alias, ("", "TimeDistributed"))
        if "config_of" in n.attrs:  # hls4ml's ApplyAlpha of a float-scale Quant (or Add)
            layers.setdefault(str(n.attrs["config_of"]), ("", "Quant"))
        for alias in n.attrs.get("nested", ()):  # a nested model's name (hls4ml: LayerGroup)
            layers.setdefault(str(alias), ("", "LayerGroup"))
    unused = cfg.check_layers(layers)  # a misspelt LayerName/LayerType is an error
    if unused:
        cfg = cfg.replace(notes=(*cfg.notes, *unused))
    graph = run_passes(loaded, [fold_zero_pad, lambda g: fold_batchnorm(g, may_fold)])
    graph = run_passes(graph, [lambda g: apply_config(g, cfg, calibration)])
    return CompiledModel(graph, cfg)


def as_config(config: object) -> Config:
    """Normalise the accepted configuration forms to a `Config`."""
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    if isinstance(config, str | Path):
        return Config.load(config)
    if isinstance(config, Mapping):
        return Config.from_dict(config)
    msg = f"config must be a Config, a dict, a YAML path or None, not {type(config).__name__}"
    raise ConfigError(msg)


def load(directory: str | Path) -> CompiledModel:
    """Read a model written by `CompiledModel.save`."""
    from hepinfer.ir.serialize import graph_from_dict
    from hepinfer.ir.verify import verify
    from hepinfer.passes.infer_types import infer_types

    d = Path(directory)
    try:
        data = json.loads((d / "graph.json").read_text())
        with np.load(d / "weights.npz") as npz:
            weights = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        msg = f"{d} is not a saved hepinfer model (graph.json + weights.npz): {exc}"
        raise HepinferError(msg) from exc
    if data.get("format") != FORMAT_VERSION:
        msg = f"{d}/graph.json has format {data.get('format')!r}; this hepinfer reads {FORMAT_VERSION}"
        raise HepinferError(msg)
    graph = graph_from_dict(data, weights)
    if any(n.out.fixed is None for n in graph.nodes):  # saved before types were IR data
        graph = infer_types(graph)
    return CompiledModel(verify(graph), Config.load(d / "config.yml"))


def describe(config: Config, graph: Graph, notes: bool = False) -> str:
    """The semantics line, every layer's types and (`notes`) the keys accepted without effect:
    what every command and report prints about a configured model.
    """
    text = "".join(f"note: {n}\n" for n in config.notes) if notes else ""
    return f"{config.describe()}\n{text}{types_table(graph)}\n"


def config_from_model(
    model: Any,
    granularity: str = "model",
    default_precision: str = DEFAULT_PRECISION,
    default_reuse_factor: int = 1,
    input_shape: Sequence[int] | None = None,
) -> Config:
    """A starting configuration for `model` (a model, path or IR graph), like hls4ml's
    `config_from_*_model`: `model` granularity sets only the model level; `type` adds an
    entry per op type; `name` adds an entry per layer with every variable it uses set to
    `auto` with hepinfer's rule (`Auto: hepinfer`: inferred without flattening the output; see
    `hepinfer.passes.apply_config`).
    """
    from hepinfer.config import AUTO, LevelConfig, Precision
    from hepinfer.fixed import FixedType
    from hepinfer.frontends import load_model
    from hepinfer.knobs import Strategy
    from hepinfer.ops import spec

    graph = load_model(model, input_shape)
    prec = FixedType.parse(default_precision)
    base = LevelConfig(
        Precision(default=prec), reuse_factor=default_reuse_factor, strategy=Strategy.LATENCY
    )
    gran = granularity.lower()
    if gran == "model":
        return Config(model=base, fold_batchnorm=None, semantics="hls4ml")
    if gran == "type":
        types = {
            spec(n.op).hls_name or n.op.value: LevelConfig(Precision(default=prec))
            for n in graph.nodes
        }
        return Config(model=base, layer_type=types, fold_batchnorm=None, semantics="hls4ml")
    if gran == "name":
        names = {}
        for n in graph.nodes:
            variables = [v for v in spec(n.op).precisions if v != "table"]
            auto: dict[str, Any] = dict.fromkeys(variables, AUTO)
            names[n.name] = LevelConfig(Precision(**auto))
        return Config(
            model=base, layer_name=names, fold_batchnorm=None, semantics="hls4ml", auto="hepinfer"
        )
    msg = f"granularity {granularity!r} must be 'model', 'type' or 'name'"
    raise ConfigError(msg)
