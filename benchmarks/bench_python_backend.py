"""Per-request overhead of a Triton python-backend model: hepinfer against Triton 2.51.

The same repository folder is served by both servers, unchanged: ``identity`` (a
python-backend ``model.py`` returning its input, FP32 [16], no batching) and
``identity_dyn`` (the same ``model.py``, max_batch_size 8 with dynamic batching, no queue
delay). perf_analyzer over gRPC, batch 1, at each concurrency; both servers stay up and the
measurements are interleaved over `--rounds` rounds (medians reported). What one request
costs beyond the model's own (empty) work is the latency at concurrency 1; throughput at
higher concurrency shows how the per-request cost scales::

    .venv/bin/python benchmarks/bench_python_backend.py
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
sys.path.insert(0, str(BENCH.parent))

from tests.serve.backends.pb_models import IDENTITY, write_python_model

from bench_server import _triton, hepinfer_server, perf
from triton_peer import peers_dir

CONFIG = """
backend: "python"
max_batch_size: {mbs}
input [{{ name: "INPUT0" data_type: TYPE_FP32 dims: [{dim}] }}]
output [{{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [{dim}] }}]
{extra}
"""


def write_repository(root: Path) -> Path:
    """``identity`` (no batching, dims [-1]) and ``identity_dyn`` (batched, dims [16])."""
    write_python_model(root, "identity", IDENTITY, CONFIG.format(mbs=0, dim=-1, extra=""))
    write_python_model(
        root, "identity_dyn", IDENTITY, CONFIG.format(mbs=8, dim=16, extra="dynamic_batching {}")
    )
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seconds", type=float, default=2.0, help="perf_analyzer window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stability", type=int, default=20)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling priority for the whole run (both servers, their python processes "
        "and perf_analyzer inherit it), e.g. -10 (root) on a shared machine",
    )
    args = parser.parse_args()
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    peers = peers_dir()
    pa = peers / "bin" / "perf_analyzer"
    if not (peers / "READY-pa").exists() or not (peers / "READY-triton").exists():
        print(f"peers not installed under {peers} (set HEPINFER_PEERS)", file=sys.stderr)
        return 2
    samples: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = write_repository(Path(tmp) / "repo")
        with hepinfer_server(repo) as ours, _triton(repo) as theirs:
            urls = {"hepinfer": ours, "triton": theirs}
            for round_ in range(args.rounds):
                for c in args.concurrency:
                    for model in ("identity", "identity_dyn"):
                        for server, url in urls.items():
                            r = perf(
                                pa,
                                url,
                                model,
                                c,
                                args.seconds,
                                args.stability,
                                ["--shape", "INPUT0:16"],
                            )
                            samples.setdefault((server, model, c), []).append(r)
                            print(
                                f"round {round_ + 1} {server:8} {model:12} c={c:<2} "
                                f"{r['throughput']:8.0f} infer/s p50 {r['p50']:7.0f} us "
                                f"p99 {r['p99']:7.0f} us",
                                flush=True,
                            )
    print()
    print(
        "| model | concurrency | hepinfer infer/s | Triton infer/s | hepinfer p50 us | Triton p50 us | p50 ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for c in args.concurrency:
        for model in ("identity", "identity_dyn"):
            ours_r = {
                k: statistics.median(s[k] for s in samples[("hepinfer", model, c)])
                for k in ("throughput", "p50")
            }
            them_r = {
                k: statistics.median(s[k] for s in samples[("triton", model, c)])
                for k in ("throughput", "p50")
            }
            print(
                f"| {model} | {c} | {ours_r['throughput']:.0f} | {them_r['throughput']:.0f} | "
                f"{ours_r['p50']:.0f} | {them_r['p50']:.0f} | {them_r['p50'] / ours_r['p50']:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
