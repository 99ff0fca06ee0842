"""`hepinfer csim MODEL -i X.npy -o Y.npy`: the HLS project's C simulation on inputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "run the C simulation of a model's HLS project (g++) on inputs from a .npy file"


def configure(parser: argparse.ArgumentParser) -> None:
    from hepinfer.commands.common import add_model_options

    parser.add_argument(
        "model", help="a directory written by `hepinfer compile`, or a model file (.onnx, ...)"
    )
    parser.add_argument("-i", "--input", required=True, help="inputs, .npy, batch first")
    parser.add_argument("-o", "--output", required=True, help="outputs, .npy (float64)")
    add_model_options(parser)
    parser.add_argument("--io-type", choices=["io_parallel", "io_stream"], help="interface")
    parser.add_argument(
        "--headers",
        choices=["auto", "xilinx", "hepinfer"],
        default="auto",
        help="ap_types headers: Xilinx's when found (auto), Xilinx's, or hepinfer's own",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run the emulator and fail unless every output bit is the same",
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import hepinfer
    from hepinfer.commands.common import compile_model
    from hepinfer.errors import HepinferError

    path = Path(args.model)
    model = hepinfer.load(path) if path.is_dir() else compile_model(args)
    try:
        x = np.load(args.input)
    except (OSError, ValueError) as exc:
        msg = f"cannot read inputs {args.input}: {exc}"
        raise HepinferError(msg) from exc
    out = model.csim(x, io_type=args.io_type, headers=args.headers)
    y = out if isinstance(out, np.ndarray) else out[model.graph.outputs[0]]
    np.save(args.output, y)
    sys.stdout.write(f"{model.config.describe()}\n{len(y)} samples -> {args.output}\n")
    if args.compare:
        ref = model.predict(x)
        expected = ref if isinstance(ref, np.ndarray) else ref[model.graph.outputs[0]]
        differing = int(np.count_nonzero(np.asarray(expected).reshape(y.shape) != y))
        sys.stdout.write(f"{differing} of {y.size} outputs differ from the emulator\n")
        if differing:
            msg = f"C simulation differs from the emulator in {differing} outputs"
            raise HepinferError(msg)
    return 0
