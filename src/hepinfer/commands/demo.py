"""`hepinfer demo`: the main job of `make demo`, from a trained model to firmware and service.

Steps (`hepinfer.demo`): train the embedded jet tagger (or take `--model`), compile it to fixed
point (accuracy, profile, resource/latency estimate, HLS project, C simulation against the
emulator), serve it (onnxruntime and the hepinfer firmware backend when installed), check the
served outputs, run a scaling scan of simulated client jobs and direct inference, and write
`report.md` / `report.html` with the plots into the output folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the demo: model -> firmware (estimate, HLS, C sim) -> server -> scaling scan -> report"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", default="demo-output", help="output folder (default: demo-output)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller data, scan and windows (about a minute)"
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="your own model (ONNX, Keras .json/.h5/.keras, PyTorch .pt) instead of the "
        "embedded jet tagger; inputs are then random standard-normal values",
    )
    parser.add_argument(
        "--input-shape",
        help="per-sample input shape for models that do not state it, e.g. 3,32,32",
    )
    parser.add_argument("--part", default="xcu250", help="FPGA part (default: xcu250)")
    parser.add_argument(
        "--precision", default="ap_fixed<16,6>", help="model precision (default: ap_fixed<16,6>)"
    )
    parser.add_argument("--reuse-factor", type=int, default=1, help="reuse factor (default: 1)")
    parser.add_argument(
        "--clock-period", type=float, default=5.0, help="clock period in ns (default: 5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data and training")
    parser.add_argument(
        "--no-open-firmware",
        action="store_true",
        help="skip the Verilog, its Verilator simulation and Yosys synthesis",
    )


def _shape(text: str | None) -> tuple[int, ...] | None:
    from hepinfer.errors import HepinferError

    if text is None:
        return None
    try:
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        msg = f"--input-shape {text!r} must be positive integers separated by commas, e.g. 16"
        raise HepinferError(msg)
    return shape


def run(args: argparse.Namespace) -> int:
    from hepinfer.demo.run import DemoOptions, run_demo
    from hepinfer.errors import HepinferError

    if args.reuse_factor < 1:
        msg = f"--reuse-factor {args.reuse_factor} must be at least 1"
        raise HepinferError(msg)
    if args.model is not None and not args.model.exists():
        msg = f"--model {args.model} does not exist; give the path of a model file"
        raise HepinferError(msg)
    options = DemoOptions(
        output=Path(args.output),
        model=args.model,
        input_shape=_shape(args.input_shape),
        part=args.part,
        precision=args.precision,
        reuse_factor=args.reuse_factor,
        clock_period=args.clock_period,
        quick=args.quick,
        seed=args.seed,
        open_firmware=not args.no_open_firmware,
    )
    run_demo(options, _argv(args))
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    """The options of this run, as a command line that repeats it."""
    argv = ["-o", str(args.output)]
    if args.quick:
        argv.append("--quick")
    if args.model is not None:
        argv += ["--model", str(args.model)]
    if args.input_shape:
        argv += ["--input-shape", args.input_shape]
    argv += ["--part", args.part, "--precision", f"'{args.precision}'"]
    argv += ["--reuse-factor", str(args.reuse_factor), "--clock-period", f"{args.clock_period:g}"]
    argv += ["--seed", str(args.seed)]
    return [*argv, "--no-open-firmware"] if args.no_open_firmware else argv
