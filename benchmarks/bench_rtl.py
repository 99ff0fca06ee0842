"""hepinfer's Verilog against da4ml's for the same quantised Dense networks, both synthesised by
the same Yosys (synth_xilinx), plus the analytic estimate, generation time and the Verilator
simulation throughput beside the C simulation, the emulator and hls4ml 1.3's `predict()` (the
peer in $HEPINFER_PEERS/hls4ml, the Keras jet tagger converted at the same configuration).

usage:
    python -m venv /tmp/da4ml && /tmp/da4ml/bin/pip install da4ml==0.6.0
    python benchmarks/bench_rtl.py --da4ml-python /tmp/da4ml/bin/python [-o rtl_bench.json]
    python benchmarks/bench_rtl.py --only "jet tagger" --no-synth    # the speeds only

Cases: the KERAS_3layer jet tagger (../shared/data) at ap_fixed<16,6> and the QKeras/QONNX
jet tagger with 6-bit weights. The comparison with da4ml uses the Dense/ReLU chain (da4ml has
no table softmax; its quantiser has TRN and RND only, so hepinfer's RND_CONV casts become RND
on the da4ml side); hepinfer's full model with softmax is reported too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import hepinfer
from hepinfer.compiled import CompiledModel
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.rtl import RtlDesign, build, simulate, synthesise
from hepinfer.rtl.synth import SynthReport, synthesise_files

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HERE = Path(__file__).resolve().parent
PEERS = Path(os.environ.get("HEPINFER_PEERS", HERE.parent / "peers"))


def cases(data: Path) -> dict[str, CompiledModel]:
    """The models of the comparison."""
    keras = data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json"
    return {
        "jet tagger ap_fixed<16,6>": hepinfer.compile(
            keras, {"Model": {"Precision": "ap_fixed<16,6>"}}
        ),
        "QONNX jet tagger (6-bit)": hepinfer.compile(data / "qonnx" / "qkeras_jettagging.onnx"),
    }


def dense_chain(graph: Graph) -> Graph:
    """The graph without its final softmax."""
    if graph.nodes[-1].op is Op.SOFTMAX:
        return graph.replace(nodes=graph.nodes[:-1], outputs=(graph.nodes[-2].name,))
    return graph


def kif(t: FixedType) -> list[int]:
    """da4ml's (sign bit, integer bits without the sign, fractional bits)."""
    return [int(t.signed), t.integer - int(t.signed), t.frac]


def da4ml_spec(graph: Graph, clock_period: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Dense/ReLU chain as da4ml_dense_chain.py reads it: types and quantised weights."""
    first = graph.inputs[0].out.fixed
    assert first is not None
    spec: dict[str, Any] = {
        "n_in": graph.inputs[0].out.size,
        "input": kif(first),
        "layers": [],
        "latency_cutoff": clock_period,
    }
    weights: dict[str, Any] = {}
    dense = [n for n in graph.nodes if n.op is Op.DENSE]
    for k, node in enumerate(dense):
        tw, tb = node.precision.weight, node.precision.bias
        assert tw is not None
        assert tb is not None
        weights[f"w{k}"] = tw.cast(node.weights["kernel"])
        weights[f"b{k}"] = tb.cast(node.weights["bias"])
        after = [c for c in graph.nodes if node.name in c.inputs]
        last = node
        relu = False
        while after and after[0].op in (Op.RELU, Op.QUANT, Op.LINEAR):
            relu = relu or after[0].op is Op.RELU
            last = after[0]
            after = [c for c in graph.nodes if last.name in c.inputs]
        res = last.out.fixed
        assert res is not None
        spec["layers"].append(
            {
                "relu": relu,
                "result": kif(res),
                "overflow": res.overflow.value,
                "round": res.quant.value,
            }
        )
    return spec, weights


def run_da4ml(python: str, graph: Graph, clock_period: float, part: str) -> dict[str, Any]:
    """da4ml's Verilog of the chain, synthesised by Yosys."""
    spec, weights = da4ml_spec(graph, clock_period)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "spec.json").write_text(json.dumps(spec))
        savez: Any = np.savez
        savez(Path(tmp, "w.npz"), **weights)
        start = time.perf_counter()
        done = subprocess.run(
            [
                python,
                str(HERE / "da4ml_dense_chain.py"),
                f"{tmp}/spec.json",
                f"{tmp}/w.npz",
                f"{tmp}/prj",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        gen = time.perf_counter() - start
        info = json.loads(done.stdout.strip().splitlines()[-1])
        files = [f for f in info["files"] if "lookup_table" not in f and "wrapper" not in f]
        report = synthesise_files(files, info["top"], part)
    # da4ml registers the input and every stage's input, and the output: stages + 1 cycles
    return {"generate_s": gen, "latency_cycles": info["stages"] + 1, "synth": report}


def run_hepinfer(
    model: CompiledModel, graph: Graph, part: str, n: int, synth: bool = True
) -> tuple[RtlDesign, dict[str, Any]]:
    """Hepinfer's Verilog of `graph`: generation time, Yosys, Verilator check and speed."""
    start = time.perf_counter()
    design = build(graph, clock_period=model.config.clock_period)
    gen = time.perf_counter() - start
    report = synthesise(design, part) if synth else None
    sub = dataclasses.replace(model, graph=graph)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1.5, size=(n, graph.inputs[0].out.size))
    t_in = graph.inputs[0].out.fixed
    assert t_in is not None
    mantissas = {graph.inputs[0].name: t_in.to_mantissa(x)}
    simulate(design, {k: v[:1] for k, v in mantissas.items()}, optimize=True)  # build, not timed
    start = time.perf_counter()
    result = simulate(design, mantissas, optimize=True)
    sim_s = time.perf_counter() - start
    expected = sub.predict(x)
    got = result.outputs[graph.outputs[0]].reshape(np.shape(expected))
    return design, {
        "generate_s": gen,
        "latency_cycles": design.latency,
        "measured_latency": result.latency,
        "differing": int(np.count_nonzero(got != expected)),
        "verilator_per_s": n / sim_s,
        "synth": report,
    }


def speeds(model: CompiledModel, n: int) -> dict[str, float]:
    """Samples per second of the full model (with its softmax) in Verilator, the C simulation
    and the emulator (builds excluded), and Verilator's disagreements with the emulator.
    """
    x = np.random.default_rng(1).normal(0, 1.5, size=(n, model.graph.inputs[0].out.size))
    design = model.rtl_design()
    model.rtlsim(x[:10], design=design, optimize=True)
    start = time.perf_counter()
    result = model.rtlsim(x, design=design, optimize=True)
    verilator = n / (time.perf_counter() - start)
    model.csim(x[:10])
    start = time.perf_counter()
    model.csim(x)
    csim = n / (time.perf_counter() - start)
    start = time.perf_counter()
    expected = model.predict(x)
    emu = n / (time.perf_counter() - start)
    got = result.outputs[model.graph.outputs[0]].reshape(np.shape(expected))
    return {
        "verilator_full_per_s": verilator,
        "verilator_full_differing": int(np.count_nonzero(got != expected)),
        "csim_per_s": csim,
        "emulator_per_s": emu,
    }


def hls4ml_speed(python: Path, data: Path, model: CompiledModel, n: int) -> dict[str, Any]:
    """hls4ml 1.3's `predict()` (its compiled C++ bridge) on the Keras jet tagger converted at
    the same configuration (ap_fixed<16,6>, Latency, reuse 1, io_parallel), run by the peer's
    python through `_hls4ml_jet_tagger.py`; also how many outputs differ from hepinfer's.
    """
    keras = data / "hls4ml-example-models" / "keras"
    x = np.random.default_rng(1).normal(0, 1.5, size=(n, model.graph.inputs[0].out.size))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.save(work / "x.npy", x)
        spec = {
            "json": str(keras / "KERAS_3layer.json"),
            "h5": str(keras / "KERAS_3layer_weights.h5"),
            "hls_config": {
                "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}
            },
            "x": str(work / "x.npy"),
            "y": str(work / "y.npy"),
            "out_dir": str(work / "prj"),
            "result": str(work / "result.json"),
        }
        (work / "spec.json").write_text(json.dumps(spec))
        subprocess.run(
            [str(python), str(HERE / "_hls4ml_jet_tagger.py"), str(work / "spec.json")],
            check=True,
            env={**os.environ, "KERAS_BACKEND": "torch"},
            capture_output=True,
        )
        result: dict[str, Any] = json.loads((work / "result.json").read_text())
        theirs = np.load(work / "y.npy")
    ours = np.asarray(model.predict(x)).reshape(theirs.shape)
    result["differing_from_hepinfer"] = int(np.count_nonzero(ours != theirs))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--da4ml-python", help="python of an environment with da4ml 0.6.0")
    parser.add_argument(
        "--hls4ml-python",
        type=Path,
        default=PEERS / "hls4ml" / "bin" / "python",
        help="python of the hls4ml peer (default $HEPINFER_PEERS/hls4ml/bin/python)",
    )
    parser.add_argument("--no-synth", action="store_true", help="skip Yosys (speeds only)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--part", default="xcvu13p", help="part for Yosys (family xcup)")
    parser.add_argument("--samples", type=int, default=10_000, help="Verilator samples")
    parser.add_argument("-o", "--output", type=Path, help="write the figures as JSON")
    parser.add_argument(
        "--only", help="run only the cases whose name contains this text (e.g. QONNX)"
    )
    args = parser.parse_args()
    rows: dict[str, Any] = {}
    for name, model in cases(args.data).items():
        if args.only and args.only.lower() not in name.lower():
            continue
        chain = dense_chain(model.graph)
        _, ours = run_hepinfer(model, chain, args.part, args.samples, synth=not args.no_synth)
        est = model.estimate()
        row: dict[str, Any] = {
            "hepinfer": ours,
            "estimate": {
                "dsp": est.total.dsp,
                "lut": est.total.lut,
                "ff": est.total.ff,
                "latency_cycles": est.latency_cycles,
            },
            **speeds(model, args.samples),
        }
        if name.startswith("jet tagger") and args.hls4ml_python.exists():
            row["hls4ml"] = hls4ml_speed(args.hls4ml_python, args.data, model, args.samples)
        if args.da4ml_python:
            row["da4ml"] = run_da4ml(args.da4ml_python, chain, model.config.clock_period, args.part)
        rows[name] = row
        print(format_row(name, row), flush=True)
    if args.output:

        def plain(v: Any) -> Any:
            return dataclasses.asdict(v) if isinstance(v, SynthReport) else v

        args.output.write_text(
            json.dumps(
                {
                    k: {
                        kk: ({a: plain(b) for a, b in vv.items()} if isinstance(vv, dict) else vv)
                        for kk, vv in v.items()
                    }
                    for k, v in rows.items()
                },
                indent=1,
                default=str,
            )
        )
    return 0


def format_row(name: str, row: dict[str, Any]) -> str:
    """One case as text."""
    ours = row["hepinfer"]
    s: SynthReport | None = ours["synth"]
    synth = (
        f"{s.luts:,} LUT, {s.ffs:,} FF, {s.dsps} DSP, {s.carries:,} CARRY, path "
        f"{s.longest_path_cells} cells, Yosys {s.seconds:.0f} s; "
        if s is not None
        else ""
    )
    lines = [
        f"## {name} (Dense/ReLU chain)",
        (
            f"hepinfer: {synth}latency {ours['latency_cycles']} cycles (measured "
            f"{ours['measured_latency']}); generated in {ours['generate_s']:.2f} s; Verilator "
            f"{ours['verilator_per_s']:,.0f} samples/s, {ours['differing']} outputs differ "
            "from the emulator"
        ),
        f"analytic estimate (full model): {row['estimate']}",
        (
            f"full model, samples/s: Verilator {row['verilator_full_per_s']:,.0f} "
            f"({row['verilator_full_differing']} outputs differ from the emulator), "
            f"C simulation {row['csim_per_s']:,.0f}, emulator {row['emulator_per_s']:,.0f}"
        ),
    ]
    if "hls4ml" in row:
        h = row["hls4ml"]
        lines.append(
            f"hls4ml 1.3 predict() (same config): {h['predict_rate']:,.0f} samples/s, "
            f"{h['differing_from_hepinfer']} outputs differ from hepinfer's emulator "
            f"(convert {h['convert_s']:.1f} s, compile {h['compile_s']:.1f} s)"
        )
    if "da4ml" in row:
        d = row["da4ml"]
        ds: SynthReport = d["synth"]
        lines.append(
            f"da4ml 0.6.0: {ds.luts:,} LUT, {ds.ffs:,} FF, {ds.dsps} DSP, {ds.carries:,} CARRY, "
            f"latency {d['latency_cycles']} cycles, path {ds.longest_path_cells} cells; "
            f"generated in {d['generate_s']:.2f} s, Yosys {ds.seconds:.0f} s"
            + (f"; LUT ratio hepinfer/da4ml {s.luts / max(ds.luts, 1):.2f}" if s else "")
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
