"""`hepinfer compile MODEL -c config.yml -o out/`: convert, configure and save a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "compile a Keras/ONNX/PyTorch model to a configured fixed-point model (emulator input)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file: .onnx, .json (+ _weights.h5), .keras, .pt")
    parser.add_argument(
        "-c",
        "--config",
        help="YAML configuration (default: hepinfer's 16-bit types that never wrap, "
        "see hepinfer.config; hls4ml's meaning: a YAML with Model: {Precision: ap_fixed<16,6>})",
    )
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
    from hepinfer.config import config_from_model
    from hepinfer.errors import HepinferError

    out = Path(args.output)
    if args.granularity and args.config:
        msg = "use either -c/--config or --granularity, not both"
        raise HepinferError(msg)
    config = (
        config_from_model(args.model, granularity=args.granularity)
        if args.granularity
        else args.config
    )
    calibration = np.load(args.calibration) if args.calibration else None
    model = hepinfer.compile(args.model, config, calibration=calibration)
    model.save(out)
    (out / "graph.txt").write_text(str(model) + "\n")
    if args.profile_data:
        from hepinfer.emulate.profiling import format_table, plot, profile

        rows = profile(model.graph, np.load(args.profile_data))
        (out / "profile.txt").write_text(format_table(rows) + "\n")
        plot(rows, out / "profile.png")
    sys.stdout.write(f"compiled {args.model} -> {out} ({len(model.graph.nodes)} nodes)\n")
    return 0
