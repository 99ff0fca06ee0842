"""`hepinfer report PROJECT_DIR`: vendor synthesis results next to hepinfer's estimate.

Reads every Vitis HLS `csynth.xml` and Vivado utilisation report under the project directory
(`hepinfer.estimate.synthesis`) and prints them beside the estimate with the error of each
figure. The estimate is `PROJECT_DIR/estimate.json` (written by `hepinfer convert`), or
`--estimate FILE`, or computed from `--model` (with `-c`, `--semantics`, `--input-shape`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "read Vitis HLS / Vivado synthesis reports of a project: estimate vs synthesis"


def configure(parser: argparse.ArgumentParser) -> None:
    from hepinfer.commands.common import add_model_options

    parser.add_argument("project", help="HLS project directory (holding the vendor reports)")
    parser.add_argument("--estimate", help="estimate.json (default: PROJECT/estimate.json)")
    parser.add_argument("--model", help="or estimate this model (file or compiled directory)")
    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    import hepinfer
    from hepinfer.commands.common import compile_model
    from hepinfer.estimate import Estimate
    from hepinfer.estimate.synthesis import compare_table, find_reports

    project = Path(args.project)
    reports = find_reports(project)
    estimate = None
    if args.model:
        path = Path(args.model)
        model = hepinfer.load(path) if path.is_dir() else compile_model(args)
        sys.stdout.write(model.config.describe() + "\n")
        estimate = model.estimate()
    elif args.estimate or (project / "estimate.json").is_file():
        estimate = Estimate.from_json(Path(args.estimate or project / "estimate.json"))
        saved = Path(args.estimate).parent if args.estimate else project
        if (saved / "config.yml").is_file():  # written with it by `hepinfer convert`
            from hepinfer.config import Config

            sys.stdout.write(Config.load(saved / "config.yml").describe() + "\n")
    sys.stdout.write(compare_table(estimate, reports) + "\n")
    return 0
