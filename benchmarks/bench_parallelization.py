"""ParallelizationFactor on a small Conv2D: what hls4ml 1.3 and hepinfer write, and the estimate.

    python benchmarks/bench_parallelization.py [--rf 1] [--no-hls4ml]

Input 8 x 8 x 3 -> Conv2D(4, 3 x 3, 'valid'): 36 output positions; model-level
`ap_fixed<16,6>`, Latency, xcu250 at 5 ns. For every PF in 1, 2, ..., 36 (the divisors, plus 5
and 7, which hls4ml replaces by the closest divisor) the table gives hls4ml 1.3's written
`n_partitions`, `n_pixels` and top-function pragma (its peer python writes the projects:
tests/hls/hls4ml_pf_runner.py, no compile), hepinfer's for the same configuration, and
hepinfer's estimate of the layer (DSP, LUT, FF, latency and II in cycles). Markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.config import Config
from hepinfer.estimate.from_graph import estimate_graph
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.hls.writer import render
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.passes.apply_config import apply_config

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "hls" / "hls4ml_pf_runner.py"
SHAPE = (8, 8, 3)
FILTERS = 4
FACTORS = (1, 2, 3, 4, 5, 6, 7, 9, 12, 18, 36)


def _graph() -> Graph:
    rng = np.random.default_rng(0)
    b = GraphBuilder("pf")
    x = b.input("x_in", SHAPE)
    kernel = rng.normal(0, 0.3, (3, 3, SHAPE[-1], FILTERS))
    conv = b.add("conv", Op.CONV2D, [x], {}, {"kernel": kernel, "bias": rng.normal(size=FILTERS)})
    return b.build([conv])


def _config(pf: int, rf: int) -> dict[str, Any]:
    model = {"Precision": "ap_fixed<16,6>", "ReuseFactor": rf, "Strategy": "Latency"}
    return {"Model": {**model, "ParallelizationFactor": pf}}


def _ours(pf: int, rf: int) -> dict[str, Any]:
    config = Config.from_dict(_config(pf, rf))
    graph = apply_config(_graph(), config)
    project = render(graph)
    params = project.text["firmware/parameters.h"]

    def const(key: str) -> int:
        match = re.search(rf"static const int {key} = (\d+);", params)
        assert match is not None
        return int(match.group(1))

    top = re.search(r"#pragma HLS (DATAFLOW|PIPELINE)", project.text["firmware/myproject.cpp"])
    assert top is not None
    (layer,) = estimate_graph(graph, config).layers
    return {
        "pf": graph.node("conv").attrs.get("parallelization_factor", 1),
        "n_partitions": const("n_partitions"),
        "n_pixels": const("n_pixels"),
        "top": top.group(1),
        "dsp": layer.resources.dsp,
        "lut": layer.resources.lut,
        "ff": layer.resources.ff,
        "latency": layer.latency_cycles,
        "ii": layer.ii,
    }


def _theirs(rf: int) -> list[dict[str, Any]] | None:
    peers = Path(os.environ.get("HEPINFER_PEERS", ROOT / "peers"))
    python = peers / "hls4ml" / "bin" / "python"
    if not python.exists():
        return None
    layer = {"class": "Conv2D", "config": {"filters": FILTERS, "kernel_size": 3, "name": "conv"}}
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            {"input_shape": SHAPE, "layer": layer, "hls_config": _config(pf, rf)} for pf in FACTORS
        ]
        spec = {"cases": cases, "out_dir": f"{tmp}/prj", "result": f"{tmp}/out.json"}
        Path(tmp, "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "KERAS_BACKEND": "torch"}
        subprocess.run([str(python), str(RUNNER), f"{tmp}/spec.json"], check=True, env=env)
        result: list[dict[str, Any]] = json.loads(Path(tmp, "out.json").read_text())
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rf", type=int, default=1, help="reuse factor (default 1)")
    parser.add_argument("--no-hls4ml", action="store_true", help="skip hls4ml's columns")
    args = parser.parse_args()
    theirs = None if args.no_hls4ml else _theirs(args.rf)
    print(f"Conv2D {SHAPE} -> {FILTERS} filters 3x3, 36 positions, reuse factor {args.rf}\n")
    print(
        "| PF asked | hls4ml PF / n_partitions / n_pixels / top | hepinfer PF / n_partitions / "
        "n_pixels / top | DSP | LUT | FF | latency | II |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    same = 0
    for i, pf in enumerate(FACTORS):
        ours = _ours(pf, args.rf)
        mine = f"{ours['pf']} / {ours['n_partitions']} / {ours['n_pixels']} / {ours['top']}"
        if theirs is None:
            hls = "(hls4ml not run)"
        else:
            h = theirs[i]
            hls = f"{h['parallelization_factor']} / {h['n_partitions']} / {h['n_pixels']} / "
            hls += h["top_pragma"]
            same += hls == mine
        print(
            f"| {pf} | {hls} | {mine} | {ours['dsp']:,} | {ours['lut']:,} | {ours['ff']:,} | "
            f"{ours['latency']} | {ours['ii']} |"
        )
    if theirs is not None:
        print(f"\n{same} of {len(FACTORS)} rows: hepinfer writes hls4ml's values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
