"""The fast proxy for the RTL's LUTs: adder bits of the QONNX jet tagger's Dense layers.

usage:
    python benchmarks/bench_rtl_layers.py                       # adder bits, every case
    python benchmarks/bench_rtl_layers.py --only L2 --synth     # and Yosys (tens of seconds)
    python benchmarks/bench_rtl_layers.py --only L2 --synth --da4ml-python /tmp/da4ml/bin/python

Cases of `../shared/data/qonnx/qkeras_jettagging.onnx` (hepinfer's default configuration):
`L1` its first Dense layer with the ReLU and 6-bit Quant after it (16 inputs of 16 bits, 64
outputs), `L2` the second (64 6-bit inputs, 32 outputs), `chain` the Dense/ReLU/Quant chain
(bench_rtl.py's comparison with da4ml). The proxy counts the full-adder cells the netlist
asks for: for every adder, the bits of its sum less the low bits that pass through as wiring.
Yosys maps about one LUT per adder bit (LUT2 and a CARRY4 per four bits), so a change that
lowers the proxy should lower the LUTs; `--synth` checks that on one layer in seconds to a
minute, where the full chain takes 6-20 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import hepinfer
from hepinfer.ir.graph import Graph
from hepinfer.rtl import build
from hepinfer.rtl.synth import synthesise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rtl import DATA, dense_chain, run_da4ml

#: an adder of the netlist: `(* keep *) wire [N:0] name = a + b;` (an (N+1)-bit sum, the top bit sliced)
_ADDER = re.compile(r"^(?:\(\* keep \*\) )?wire \[(\d+):0\] \S+ = (.*) [+-] (.*);$")


def layer(graph: Graph, which: str) -> Graph:
    """The case `which` (L1, L2 or chain) of the QONNX tagger's graph."""
    chain = dense_chain(graph)
    names = [n.name for n in chain.nodes]
    if which == "chain":
        return chain
    if which == "L1":
        return chain.replace(nodes=chain.nodes[: names.index("Quant_8") + 1], outputs=("Quant_8",))
    if which == "L2":
        quant = chain.node("Quant_8")
        source = dataclasses.replace(chain.inputs[0], name="x2", out=quant.out)
        dense = dataclasses.replace(chain.node("MatMul_1"), inputs=("x2",))
        rest = chain.nodes[names.index("Relu_1") : names.index("Quant_9") + 1]
        return chain.replace(nodes=(source, dense, *rest), outputs=("Quant_9",))
    msg = f"unknown case {which!r}: use L1, L2 or chain"
    raise SystemExit(msg)


def adder_bits(verilog: str) -> tuple[int, int]:
    """(adders, adder bits) of a generated design: each sum's bits less its wired low bits."""
    adders = bits = 0
    for line in verilog.splitlines():
        m = _ADDER.match(line.strip())
        if m:
            wired = [re.search(r", (\d+)'d0\}+$", side) for side in (m.group(2), m.group(3))]
            bits += int(m.group(1)) - max((int(w.group(1)) for w in wired if w), default=0)
            adders += 1
    return adders, bits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="one case: L1, L2 or chain")
    parser.add_argument("--synth", action="store_true", help="synthesise with Yosys too")
    parser.add_argument("--da4ml-python", help="python of an environment with da4ml 0.6.0")
    parser.add_argument("--part", default="xcvu13p", help="part for Yosys (family xcup)")
    args = parser.parse_args()
    model = hepinfer.compile(DATA / "qonnx" / "qkeras_jettagging.onnx")
    for which in [args.only] if args.only else ["L1", "L2", "chain"]:
        graph = layer(model.graph, which)
        start = time.perf_counter()
        design = build(graph, clock_period=model.config.clock_period)
        adders, bits = adder_bits(design.verilog)
        row: dict[str, Any] = {
            "case": which,
            "adders": adders,
            "adder_bits": bits,
            "latency": design.latency,
            "generate_s": round(time.perf_counter() - start, 2),
        }
        if args.synth:
            r = synthesise(design, args.part)
            row["yosys"] = {"luts": r.luts, "ffs": r.ffs, "carry": r.carries, "cells": r.cells}
            row["yosys"]["cpu_s"] = round(r.cpu_seconds, 1)
        if args.da4ml_python:
            d = run_da4ml(args.da4ml_python, graph, model.config.clock_period, args.part)
            s = d["synth"]
            row["da4ml"] = {"luts": s.luts, "ffs": s.ffs, "carry": s.carries, "cells": s.cells}
            row["da4ml"].update(latency=d["latency_cycles"], cpu_s=round(s.cpu_seconds, 1))
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
