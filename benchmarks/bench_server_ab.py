"""Before/after: the same server benchmark against two versions of hepinfer in the same run.

Starts ``hepinfer serve`` twice on the jet tagger repository of ``bench_server.py``: once
from this checkout and once from another checkout's ``src/`` (`--before`, e.g. a git worktree
of an older commit), and measures both with perf_analyzer in interleaved rounds (medians),
so the machine's load hits both alike. Prints throughput and p99 with after / before ratios::

    git worktree add --detach ../before <commit>
    .venv/bin/python benchmarks/bench_server_ab.py --before ../before
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, hepinfer_repo, jet_onnx, perf, serve_process
from triton_peer import peers_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old version")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--stability",
        type=int,
        default=20,
        help="perf_analyzer -s (percent; raise it on a busy machine)",
    )
    args = parser.parse_args()
    pa = peers_dir() / "bin" / "perf_analyzer"
    samples: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        onnx_path = tmp / "jet.onnx"
        repo = hepinfer_repo(tmp / "repo", onnx_path, jet_onnx(JET_ONNX, onnx_path))
        srcs = {"before": args.before.resolve() / "src", "after": REPO / "src"}
        with (
            serve_process(repo, src=srcs["before"]) as (_, before),
            serve_process(repo, src=srcs["after"]) as (_, after),
        ):
            urls = {"before": before, "after": after}
            for round_ in range(args.rounds):
                for c in args.concurrency:
                    for model in ("jet", "jet_dyn"):
                        for which in (
                            ("before", "after") if round_ % 2 == 0 else ("after", "before")
                        ):
                            r = perf(pa, urls[which], model, c, args.seconds, args.stability)
                            samples.setdefault((which, model, c), []).append(r)
                            print(f"round {round_ + 1} {which:6} {model:8} c={c:<3} "
                                  f"{r['throughput']:9.0f} infer/s  p99 {r['p99'] / 1000:.2f} ms",
                                  flush=True)  # fmt: skip
    print()
    print("| model | c | before infer/s | after infer/s | after/before | p99 before | p99 after |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for model in ("jet", "jet_dyn"):
        for c in args.concurrency:
            b = {
                k: statistics.median(r[k] for r in samples["before", model, c])
                for k in ("throughput", "p99")
            }
            a = {
                k: statistics.median(r[k] for r in samples["after", model, c])
                for k in ("throughput", "p99")
            }
            print(f"| {model} | {c} | {b['throughput']:,.0f} | {a['throughput']:,.0f} | "
                  f"{a['throughput'] / b['throughput']:.2f}x | {b['p99'] / 1000:.2f} ms | "
                  f"{a['p99'] / 1000:.2f} ms |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
