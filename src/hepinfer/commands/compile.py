"""`hepinfer compile MODEL -c config.yml -o out/`: convert, configure and save a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "compile a Keras/ONNX/PyTorch model to a configured fixed-point model (emulator input)"


def configure(parser: argparse.ArgumentParser) -> None:
    from hepinfer.commands.common import add_model_options

    parser.add_argument(
        "model", help="model file: .onnx, .json (+ _weights.h5), .h5, .keras, .pt (--input-shape)"
    )
    add_model_options(parser)
    parser.add_argument("-o", "--output", required=True, help="output directory")
    parser.add_argument(
        "--granularity",
        choices=["model", "type", "name"],
        help="write a starting configuration of this granularity instead of reading -c",
    )
    parser.add_argument("--calibration", help=".npy inputs for `auto` precisions")
    parser.add_argument(
        "--profile", dest="profile_data", help=".npy inputs: also write profile.txt and profile.png"
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import hepinfer
    from hepinfer.commands.common import header, resolve_config
    from hepinfer.compiled import config_from_model
    from hepinfer.errors import HepinferError

    out = Path(args.output)
    if args.granularity and args.config:
        msg = "use either -c/--config or --granularity, not both"
        raise HepinferError(msg)
    config = (
        config_from_model(args.model, granularity=args.granularity, input_shape=args.input_shape)
        if args.granularity
        else None
    )
    calibration = np.load(args.calibration) if args.calibration else None
    cfg = config if config is not None else resolve_config(args.config, args.semantics)
    model = hepinfer.compile(args.model, cfg, calibration=calibration, input_shape=args.input_shape)
    model.save(out)
    (out / "graph.txt").write_text(str(model) + "\n")
    (out / "types.txt").write_text(header(model.config, model.graph, notes=True))
    sys.stdout.write(header(model.config, model.graph, notes=True))
    if args.profile_data:
        from hepinfer.emulate.profiling import format_table, plot, profile

        rows = profile(model.graph, np.load(args.profile_data))
        (out / "profile.txt").write_text(format_table(rows) + "\n")
        plot(rows, out / "profile.png")
    sys.stdout.write(f"compiled {args.model} -> {out} ({len(model.graph.nodes)} nodes)\n")
    return 0
