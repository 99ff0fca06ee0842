"""Options every model-loading command shares: `-c`, `--input-shape`, `--semantics`.

One rule decides what a precision means, on every command: `--semantics` when given, else the
configuration file's `Semantics:` key, else hls4ml's meaning for a configuration file and
hepinfer's without one (see `hepinfer.config`). The commands print `Config.describe()` and the
types each layer got (`types_table`), so the meaning used is always visible.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hepinfer.errors import ConfigError

if TYPE_CHECKING:
    from hepinfer.compiled import CompiledModel
    from hepinfer.config import Config
    from hepinfer.ir.graph import Graph

SEMANTICS_HELP = (
    "what a precision means: 'hepinfer' (results rounded and saturating, weights sized to their "
    "range, exact accumulators; the default without -c) or 'hls4ml' (every variable as "
    "written, WRAP/TRN; the default for a -c configuration without a Semantics key)"
)


def input_shape(text: str) -> tuple[int, ...]:
    """``--input-shape 1,28,28`` (or ``1x28x28``, no batch dimension) -> a tuple."""
    parts = text.replace("x", ",").replace(" ", "").strip("(),[]").split(",")
    try:
        shape = tuple(int(p) for p in parts if p)
    except ValueError as exc:
        msg = f"--input-shape {text!r}: give integers without the batch, e.g. 3,32,32"
        raise argparse.ArgumentTypeError(msg) from exc
    if not shape or any(d <= 0 for d in shape):
        msg = f"--input-shape {text!r}: give positive sizes without the batch, e.g. 3,32,32"
        raise argparse.ArgumentTypeError(msg)
    return shape


def jobs(text: str) -> int:
    """``--jobs N``: the number of concurrent Yosys runs of ``--synth``, a positive integer."""
    try:
        n = int(text)
    except ValueError as exc:
        msg = f"--jobs {text!r}: give a whole number of concurrent Yosys runs, e.g. 2"
        raise argparse.ArgumentTypeError(msg) from exc
    if n < 1:
        msg = f"--jobs {n}: give at least 1 (1: one flat Yosys run)"
        raise argparse.ArgumentTypeError(msg)
    return n


def add_model_options(parser: argparse.ArgumentParser, config: bool = True) -> None:
    """Add `-c/--config` (optional), `--input-shape` and `--semantics`."""
    if config:
        parser.add_argument(
            "-c",
            "--config",
            help="YAML configuration: hepinfer's or hls4ml's (config_from_keras_model output "
            "or an `hls4ml convert` YAML); default: hepinfer's 16-bit types that never wrap",
        )
    parser.add_argument(
        "--input-shape",
        type=input_shape,
        help="input shape without the batch, e.g. 3,32,32 (PyTorch models need it)",
    )
    parser.add_argument("--semantics", choices=["hepinfer", "hls4ml"], help=SEMANTICS_HELP)


def resolve_config(path: str | None, semantics: str | None) -> Config:
    """The configuration of `-c PATH` (or none) under the one rule of the module docstring."""
    from hepinfer.config import Config

    if path is None:
        return Config.hls4ml() if semantics == "hls4ml" else Config()
    if semantics is None:
        return Config.load(path)
    from pathlib import Path

    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read configuration {path}: {exc}"
        raise ConfigError(msg) from exc
    if not isinstance(data, dict):
        msg = f"configuration {path} must be a mapping, got {type(data).__name__}"
        raise ConfigError(msg)
    nested = data.get("HLSConfig")
    target: dict[str, object] = nested if isinstance(nested, dict) else data
    target["Semantics"] = semantics
    return Config.from_dict(data)


def compile_model(args: argparse.Namespace, config: Config | None = None) -> CompiledModel:
    """Compile `args.model` (a file) with `config` or the command line's configuration."""
    import hepinfer

    cfg = config if config is not None else resolve_config(args.config, args.semantics)
    return hepinfer.compile(args.model, cfg, input_shape=args.input_shape)


def header(config: Config, graph: Graph, notes: bool = False) -> str:
    """The semantics line, the types table and (`notes`) the keys accepted without effect."""
    from hepinfer.compiled import describe

    return describe(config, graph, notes)
