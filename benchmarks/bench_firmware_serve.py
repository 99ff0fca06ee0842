"""`hepinfer serve`: the firmware backend against the onnxruntime backend, same jet tagger.

Issue 15's serving item: the KERAS_3layer jet tagger (16-64-32-32-5 + softmax) compiled with
model-level ``ap_fixed<16,6>`` (Latency, RF 1) and served bit-exactly by the ``firmware``
backend (``model.hepinfer``), and the same network's ONNX export
(``hls4ml-example-models/onnx/three_layer_keras.onnx``, batch axis made free) served by the
onnxruntime backend, both by one ``hepinfer serve`` process, with the same configuration
(``max_batch_size`` 1024, FP32 in and out, one instance), without and with dynamic batching.
perf_analyzer over gRPC, batch 1, at each concurrency (default 16); the measurements are
interleaved over `--rounds` rounds and the medians reported, with firmware / onnxruntime
throughput ratios (acceptance: within 20 %)::

    PYTHONPATH=src HEPINFER_PEERS=/work/main/peers .venv/bin/python benchmarks/bench_firmware_serve.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, jet_onnx, perf, serve_process
from triton_peer import peers_dir

EXAMPLES = JET_ONNX.parent.parent
KERAS = (EXAMPLES / "keras" / "KERAS_3layer.json", EXAMPLES / "keras" / "KERAS_3layer_weights.h5")
PRECISION = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}

CONFIG = """name: "{name}"
{platform}
max_batch_size: 1024
input [{{ name: "{input}" data_type: TYPE_FP32 dims: [16] }}]
output [{{ name: "{output}" data_type: TYPE_FP32 dims: [5] }}]
{batching}
"""
#: (model name suffix, config text) of the two scheduling variants
VARIANTS = (("", ""), ("_dyn", "dynamic_batching { }"))


def write_repository(root: Path) -> list[str]:
    """``fw``/``fw_dyn`` (firmware) and ``ort``/``ort_dyn`` (onnxruntime); their names."""
    import hepinfer

    compiled = hepinfer.compile(KERAS, PRECISION)
    fw_in = compiled.graph.inputs[0].name
    fw_out = compiled.graph.outputs[0]
    onnx_path = root / "jet.onnx"
    root.mkdir(parents=True)
    ort_in, ort_out = jet_onnx(JET_ONNX, onnx_path)
    names = []
    for suffix, batching in VARIANTS:
        for kind, platform, names_io in (
            ("fw", 'platform: "hepinfer_firmware"', (fw_in, fw_out)),
            ("ort", 'platform: "onnxruntime_onnx"', (ort_in, ort_out)),
        ):
            name = kind + suffix
            (root / name / "1").mkdir(parents=True)
            if kind == "fw":
                compiled.save(root / name / "1" / "model.hepinfer")
            else:
                (root / name / "1" / "model.onnx").write_bytes(onnx_path.read_bytes())
            (root / name / "config.pbtxt").write_text(
                CONFIG.format(
                    name=name,
                    platform=platform,
                    input=names_io[0],
                    output=names_io[1],
                    batching=batching,
                )
            )
            names.append(name)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16])
    parser.add_argument("--seconds", type=float, default=3.0, help="perf_analyzer window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stability", type=int, default=30)
    args = parser.parse_args()
    pa = peers_dir() / "bin" / "perf_analyzer"
    if not (peers_dir() / "READY-pa").exists():
        print(
            f"perf_analyzer not installed under {peers_dir()} (set HEPINFER_PEERS)", file=sys.stderr
        )
        return 2
    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        models = write_repository(repo)
        with serve_process(repo) as (_, url):
            for round_ in range(args.rounds):
                for c in args.concurrency:
                    for model in models:
                        r = perf(pa, url, model, c, args.seconds, args.stability)
                        samples.setdefault((model, c), []).append(r)
                        print(
                            f"round {round_ + 1} {model:8} c={c:<3} {r['throughput']:8.0f} "
                            f"infer/s p50 {r['p50']:7.0f} us p99 {r['p99']:7.0f} us "
                            f"(load {os.getloadavg()[0]:.1f})",
                            flush=True,
                        )
    print()
    print(
        "| scheduling | c | firmware infer/s, p50, p99 | onnxruntime infer/s, p50, p99 | firmware / onnxruntime |"
    )
    print("|---|---:|---|---|---:|")
    for suffix, batching in VARIANTS:
        for c in args.concurrency:
            med = {
                kind: {
                    k: statistics.median(s[k] for s in samples[(kind + suffix, c)])
                    for k in ("throughput", "p50", "p99")
                }
                for kind in ("fw", "ort")
            }
            cells = [
                f"{m['throughput']:,.0f}, {m['p50'] / 1000:.2f} ms, {m['p99'] / 1000:.2f} ms"
                for m in (med["fw"], med["ort"])
            ]
            ratio = med["fw"]["throughput"] / med["ort"]["throughput"]
            label = batching.split(" ")[0] or "no batching"
            print(f"| {label} | {c} | {cells[0]} | {cells[1]} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
