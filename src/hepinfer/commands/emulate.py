"""`hepinfer emulate out/ -i X.npy -o Y.npy`: run a compiled model bit-exactly on inputs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hepinfer.knobs import Engine, Mode

HELP = "run a compiled model (from `hepinfer compile`) bit-exactly on inputs from a .npy file"


def configure(parser: argparse.ArgumentParser) -> None:
    from hepinfer.commands.common import add_model_options

    parser.add_argument(
        "model", help="directory written by `hepinfer compile`, or a model file (compiled here)"
    )
    add_model_options(parser)
    parser.add_argument("-i", "--input", required=True, help="inputs, .npy, batch first")
    parser.add_argument("-o", "--output", required=True, help="outputs, .npy (float64)")
    parser.add_argument("--float", action="store_true", help="run the float reference instead")
    parser.add_argument("--trace", help="also write every layer's output to this .npz")
    parser.add_argument(
        "--engine",
        choices=[e.value for e in Engine],
        default=None,
        help="fixed-point kernels: auto (native C++ Dense kernel when g++ is there; default, "
        "or $HEPINFER_ENGINE), numpy, native (fail without g++); all give the same bits",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    import hepinfer
    from hepinfer.commands.common import compile_model
    from hepinfer.errors import HepinferError

    model = hepinfer.load(args.model) if Path(args.model).is_dir() else compile_model(args)
    try:
        x = np.load(args.input)
    except (OSError, ValueError) as exc:
        msg = f"cannot read inputs {args.input}: {exc}"
        raise HepinferError(msg) from exc
    mode = Mode.FLOAT if args.float else Mode.FIXED
    engine = None if args.engine is None else Engine.parse(args.engine, "--engine")
    if args.trace:
        values = model.trace(x, mode=mode, engine=engine)
        savez: Any = np.savez  # numpy's stub confuses **arrays with allow_pickle
        savez(args.trace, **values)
        y = values[model.graph.outputs[0]]
    else:
        out = model.predict(x, mode=mode, engine=engine)
        y = out if isinstance(out, np.ndarray) else out[model.graph.outputs[0]]
    np.save(args.output, y)
    sys.stdout.write(f"{model.config.describe()}\n{len(y)} samples -> {args.output}\n")
    return 0
