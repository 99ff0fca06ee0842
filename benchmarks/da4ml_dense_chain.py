"""Build a Dense/ReLU chain with da4ml (run in an environment that has `da4ml`).

usage: python da4ml_dense_chain.py SPEC.json WEIGHTS.npz OUT_DIR

SPEC.json (written by bench_rtl.py): the input type as (k, i, f) (sign bit, integer bits
without the sign, fractional bits), and per layer the output type (k, i, f), the overflow and
rounding modes of the result cast, and whether a ReLU follows; WEIGHTS.npz holds `w{n}` and
`b{n}` as the float values the quantised weights take. Prints a JSON line: the module name,
the pipeline latency in cycles and the source files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from da4ml.codegen import VerilogModel
from da4ml.trace import FixedVariableArrayInput, comb_trace
from da4ml.trace.ops import quantize, relu


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    weights = np.load(sys.argv[2])
    out = Path(sys.argv[3])
    inp = FixedVariableArrayInput((spec["n_in"],))
    x = quantize(inp, *spec["input"])
    for n, layer in enumerate(spec["layers"]):
        x = x @ weights[f"w{n}"] + weights[f"b{n}"]
        if layer["relu"]:
            x = relu(x)
        rnd = "TRN" if layer["round"] == "TRN" else "RND"  # da4ml has TRN and RND only
        ovf = "WRAP" if layer["overflow"] == "WRAP" else "SAT"
        x = quantize(x, *layer["result"], overflow_mode=ovf, round_mode=rnd)
    comb = comb_trace(inp, x)
    model = VerilogModel(
        comb, "da4ml_top", out, latency_cutoff=spec["latency_cutoff"], print_latency=False
    )
    model.write()
    pipe = model._pipe
    stages = len(pipe.solutions) if pipe is not None else 0
    files = sorted(str(p) for p in out.rglob("*.v"))
    print(json.dumps({"top": "da4ml_top", "stages": stages, "files": files}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
