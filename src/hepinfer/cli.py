"""The `hepinfer` command line.

Subcommands live in `hepinfer.commands.<name>`; each module defines `HELP` (one line),
`configure(parser)` and `run(args) -> int`. Modules keep their top-level imports light
(argparse only) and import heavy parts inside `run`, so `hepinfer --help` stays instant.
Exit codes: 0 success, 1 failure reported by hepinfer, 2 bad usage (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from hepinfer._version import __version__
from hepinfer.errors import HepinferError

#: subcommand name -> module under hepinfer.commands (kept in the order `--help` shows)
COMMANDS: dict[str, str] = {
    "compile": "compile",
    "convert": "convert",
    "emulate": "emulate",
    "hls": "hls",
    "csim": "csim",
    "rtl": "rtl",
    "estimate": "estimate",
    "report": "report",
    "serve": "serve",
    "serve-lb": "serve_lb",
    "autoscale": "autoscale",
    "bench": "bench",
    "workflow": "workflow",
    "fixed": "fixed",
    "demo": "demo",
    "hls-lint": "hls_lint",
}


class _Command(Protocol):
    HELP: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(module: str) -> _Command:
    return cast(_Command, importlib.import_module(f"hepinfer.commands.{module}"))


def _add_global(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more log output (-vv for debug); before or after the subcommand",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=default,
        help="less log output: errors only (-qq: nothing but the results)",
    )


def log_level(verbose: int, quiet: int) -> int:
    """The logging level of `-v`/`-q` counts: WARNING by default."""
    if quiet:
        return logging.ERROR if quiet == 1 else logging.CRITICAL + 1
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="hepinfer",
        description=(
            "Fast ML inference for particle physics: compile networks to bit-exact FPGA "
            "firmware, serve models through a Triton-compatible server, and benchmark them."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hepinfer {__version__}")
    _add_global(parser, argparse.SUPPRESS)
    parser.set_defaults(verbose=0, quiet=0)
    # the same flags after the subcommand (`hepinfer serve repo/ -v`); SUPPRESS keeps a flag
    # given before the subcommand when the subcommand's parser does not see it again
    common = argparse.ArgumentParser(add_help=False)
    _add_global(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        command = _load(module)
        sp = sub.add_parser(name, help=command.HELP, description=command.HELP, parents=[common])
        command.configure(sp)
        sp.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hepinfer` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:
        parser.error("-v/--verbose and -q/--quiet exclude each other")
    level = log_level(args.verbose, args.quiet)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args))
    except HepinferError as exc:
        print(f"hepinfer {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hepinfer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
