"""`hepinfer hls MODEL_OR_COMPILED_DIR -o out/`: write the Vitis HLS project of a model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write the Vitis HLS project (firmware, weights, testbench, build.tcl) of a model"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        help="a directory written by `hepinfer compile`, or a model file (.onnx, .json, ...)",
    )
    parser.add_argument("-o", "--output", required=True, help="output directory of the project")
    from hepinfer.commands.common import add_model_options

    add_model_options(parser)
    parser.add_argument("--project", default="myproject", help="top function name (myproject)")
    parser.add_argument("--part", help="FPGA part (default: the configuration's)")
    parser.add_argument("--clock-period", type=float, help="clock period in ns")
    parser.add_argument("--io-type", choices=["io_parallel", "io_stream"], help="interface")
    parser.add_argument(
        "--test-inputs", help=".npy inputs: write tb_data/ with the emulator's outputs"
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import hepinfer
    from hepinfer.commands.common import compile_model, header

    path = Path(args.model)
    model = hepinfer.load(path) if path.is_dir() else compile_model(args)
    sys.stdout.write(header(model.config, model.graph))
    x = np.load(args.test_inputs) if args.test_inputs else None
    out = model.write_hls(
        args.output,
        project=args.project,
        part=args.part,
        clock_period=args.clock_period,
        io_type=args.io_type,
        test_inputs=x,
    )
    sys.stdout.write(f"wrote {out} (run: cd {out} && vitis_hls -f build.tcl)\n")
    return 0
