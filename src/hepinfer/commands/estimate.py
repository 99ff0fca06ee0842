"""`hepinfer estimate MODEL_OR_COMPILED_DIR`: FPGA resources and latency, no vendor tools.

The model is a model file (compiled here with `-c` or the default configuration) or a
directory written by `hepinfer compile` / `CompiledModel.save` (its graph is used as
compiled, unless `-c` or a knob option asks for another configuration). Knob options set the
configuration's model level, as hls4ml's `Model:` block does: layer-type and layer-name
entries of the configuration still take precedence over them. Reconfiguring re-applies the
configuration to the compiled graph; its `auto` types are then inferred again, from
`--calibration` data when given, else from the weights and the input type.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepinfer.errors import ConfigError
from hepinfer.knobs import IOType, Strategy

if TYPE_CHECKING:
    from hepinfer.compiled import CompiledModel
    from hepinfer.config import Config

HELP = "estimate FPGA resources (DSP, LUT, FF, BRAM, URAM), latency and II of a model"


def _strategy(text: str) -> Strategy:
    """``--strategy`` (latency / resource, any case) -> the enum; the CLI edge."""
    try:
        return Strategy.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _io_type(text: str) -> IOType:
    """``--io-type`` (io_parallel / io_stream) -> the enum; the CLI edge."""
    try:
        return IOType.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL_OR_COMPILED_DIR",
        help="model file (.onnx, .json + _weights.h5, .keras, .pt) or a `hepinfer compile` output directory",
    )
    from hepinfer.commands.common import add_model_options, jobs

    add_model_options(parser)
    parser.add_argument(
        "--part", help="FPGA part, e.g. xcu250, xcvu9p, xcku115 (default: the configuration's)"
    )
    parser.add_argument(
        "--clock-period", type=float, help="clock period in ns (default: the configuration's)"
    )
    from hepinfer.estimate.tools import DEFAULT_TOOL, TOOLS

    parser.add_argument(
        "--tool",
        choices=list(TOOLS),
        default=DEFAULT_TOOL,
        help=f"HLS tool generation whose scheduling rules the estimate models (default: {DEFAULT_TOOL})",
    )
    parser.add_argument("--reuse-factor", type=int, help="model-level reuse factor")
    parser.add_argument(
        "--strategy",
        type=_strategy,
        choices=list(Strategy),
        metavar="{latency,resource}",
        help="model-level strategy",
    )
    parser.add_argument(
        "--precision",
        help="model-level type, e.g. 'ap_fixed<16,6>', with the --semantics meaning (printed)",
    )
    parser.add_argument(
        "--io-type",
        type=_io_type,
        choices=list(IOType),
        metavar="{io_parallel,io_stream}",
        help="interface type",
    )
    parser.add_argument("--calibration", help=".npy inputs for `auto` precisions")
    parser.add_argument(
        "-o", "--output", help="directory for estimate.txt, estimate.json and estimate.png"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the estimate as JSON instead of the table"
    )
    parser.add_argument(
        "--synth",
        action="store_true",
        help="also synthesise the model's Verilog with Yosys: a 'synthesised' column and bars",
    )
    parser.add_argument(
        "--jobs",
        type=jobs,
        default=1,
        metavar="N",
        help="--synth with N concurrent Yosys runs (the design cut at its pipeline registers; "
        "default 1: one flat run)",
    )


def _knobs(args: argparse.Namespace) -> bool:
    return any(
        v is not None for v in (args.reuse_factor, args.strategy, args.precision, args.io_type)
    )


def with_knobs(config: Config, args: argparse.Namespace) -> Config:
    """`config` with the command line's model-level knobs applied."""
    import dataclasses

    from hepinfer.config import AUTO, parse_type

    model = config.model
    if args.reuse_factor is not None:
        if args.reuse_factor < 1:
            msg = f"--reuse-factor {args.reuse_factor} must be a positive integer"
            raise ConfigError(msg)
        model = dataclasses.replace(model, reuse_factor=args.reuse_factor)
    if args.strategy is not None:
        model = dataclasses.replace(model, strategy=args.strategy)
    changes: dict[str, Any] = {}
    if args.precision is not None:
        from hepinfer.config import Config
        from hepinfer.fixed import FixedType

        t = parse_type(args.precision, "--precision")
        if t == AUTO or not isinstance(t, FixedType):
            msg = "--precision auto: the model-level default must be a type, e.g. ap_fixed<16,6>"
            raise ConfigError(msg)
        # the configuration's semantics decides what the type means, as in a YAML Model level
        new = Config.default(t) if config.semantics == "hepinfer" else Config.hls4ml(t)
        model = dataclasses.replace(model, precision=new.model.precision)
        changes["layer_type"] = {**new.layer_type, **config.layer_type}
        changes["softmax_input"] = config.softmax_input or new.softmax_input
    changes["model"] = model
    if args.io_type is not None:
        changes["io_type"] = args.io_type
    return config.replace(**changes)


def load_configured(args: argparse.Namespace) -> CompiledModel:
    """The model to estimate: compiled from a file, or loaded (and reconfigured) from a dir."""
    import numpy as np

    import hepinfer
    from hepinfer.commands.common import resolve_config
    from hepinfer.compiled import CompiledModel
    from hepinfer.errors import HepinferError

    calibration = None
    if args.calibration:
        try:
            calibration = np.load(args.calibration)
        except (OSError, ValueError) as exc:
            msg = f"--calibration {args.calibration}: cannot read a .npy array ({exc})"
            raise HepinferError(msg) from exc
    path = Path(args.model)
    if path.is_dir():
        if not (path / "graph.json").is_file():
            msg = f"{path} is a directory but not a `hepinfer compile` output (no graph.json)"
            raise HepinferError(msg)
        compiled = hepinfer.load(path)
        if args.config is None and not _knobs(args) and calibration is None and not args.semantics:
            return compiled
        from hepinfer.passes import run_passes
        from hepinfer.passes.apply_config import apply_config

        base = (
            resolve_config(args.config, args.semantics)
            if args.config or args.semantics
            else compiled.config
        )
        config = with_knobs(base, args)
        graph = run_passes(compiled.graph, [lambda g: apply_config(g, config, calibration)])
        return CompiledModel(graph, config)
    config = with_knobs(resolve_config(args.config, args.semantics), args)
    return hepinfer.compile(path, config, calibration=calibration, input_shape=args.input_shape)


def run(args: argparse.Namespace) -> int:
    import logging
    import warnings

    from hepinfer.errors import EstimateError
    from hepinfer.estimate import get_part

    if args.part is not None:
        get_part(args.part)  # a bad name fails before the model is compiled
    if args.clock_period is not None and not args.clock_period > 0:
        msg = f"--clock-period {args.clock_period} ns is invalid; give a positive period in ns"
        raise EstimateError(msg)
    model = load_configured(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every warning is also in the estimate itself
        est = model.estimate(
            part=args.part,
            clock_period=args.clock_period,
            synthesise=args.synth,
            tool=args.tool,
            jobs=args.jobs,
        )
    from hepinfer.commands.common import header

    table = header(model.config, model.graph) + "\n" + est.to_table()
    if args.json:
        data = est.to_dict()
        data["semantics"] = model.config.semantics
        data["config"] = model.config.to_dict()
        data["types"] = {
            n.name: {v: str(t) for v, t in n.precision.items()} for n in model.graph.nodes
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        for warning in est.warnings:
            logging.getLogger("hepinfer.estimate").warning("%s", warning)
    else:
        sys.stdout.write(table + "\n")
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "estimate.txt").write_text(table + "\n", encoding="utf-8")
        est.to_json(out / "estimate.json")
        model.config.save(out / "config.yml")
        est.plot(out / "estimate.png")
        if not args.json:
            sys.stdout.write(f"wrote {out}/estimate.txt, estimate.json, estimate.png, config.yml\n")
    return 0
