"""`hepinfer hls-lint DIR`: the firmware lint over a written HLS project (libclang)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "lint a written HLS project: no float, <cmath>, heap, STL, I/O, recursion, unbounded loop"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="a directory written by `hepinfer hls` (or write_hls)")
    parser.add_argument("--top", help="the top function (default: the firmware/*.cpp file's name)")
    parser.add_argument(
        "--headers",
        help="ap_types folder to parse with (default: hepinfer's own; or $XILINX_HLS/include)",
    )


def run(args: argparse.Namespace) -> int:
    from hepinfer.hls.lint import lint_project

    headers = Path(args.headers) if args.headers else None
    findings = lint_project(args.project, top=args.top, headers=headers)
    for finding in findings:
        sys.stdout.write(f"{finding}\n")
    sys.stdout.write(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}\n")
    return 1 if findings else 0
