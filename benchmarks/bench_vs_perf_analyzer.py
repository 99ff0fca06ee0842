"""`hepinfer bench` against perf_analyzer 2.41 on the same hepinfer server (issue 16 part 7).

One `hepinfer serve` (native gRPC front end) serves the 16-64-32-32-5 jet tagger with
dynamic batching (`jet_dyn`, the model of `bench_server.py`). Each round runs, at every
concurrency, perf_analyzer and `hepinfer bench` with the same flags, one after the other,
alternating which goes first; both are separate processes started the same way and both
write perf_analyzer's CSV, from which the infer/s and latencies are read. Prints the medians
over the rounds, the ratios hepinfer bench / perf_analyzer, and every round::

    .venv/bin/python benchmarks/bench_vs_perf_analyzer.py --rounds 3
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, hepinfer_repo, jet_onnx, serve_process
from triton_peer import peers_dir

TOOLS = ("perf_analyzer", "hepinfer bench")


def command(
    tool: str, pa: Path, url: str, c: int, args: argparse.Namespace, out: Path
) -> list[str]:
    """The command line of one measurement: the same perf_analyzer flags for both tools."""
    flags = [
        "-m", "jet_dyn", "-u", url, "-i", "grpc", "-b", "1",
        "--concurrency-range", f"{c}:{c}", "-p", str(args.window_ms),
        "--max-trials", str(args.max_trials), "-s", str(args.stability), "-f", str(out),
    ]  # fmt: skip
    if tool == "perf_analyzer":
        return [str(pa), *flags]
    return [sys.executable, "-m", "hepinfer", "bench", *flags, "-q", *args.bench_args]


def measure(cmd: Sequence[str], out: Path) -> dict[str, float] | None:
    """Run one tool and read its CSV (plus the CPU seconds the tool used); None when it fails
    twice (perf_analyzer exits 1 when its windows do not stabilise, as on a busy machine).
    """
    for _ in range(2):
        out.unlink(missing_ok=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode == 0:
            with out.open() as f:
                row = next(csv.DictReader(f))
            return {
                "throughput": float(row["Inferences/Second"]),
                "p50": float(row["p50 latency"]),
                "p99": float(row["p99 latency"]),
                "cpu_s": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
            }
    print(f"failed twice: {' '.join(cmd)}\n{result.stdout[-500:]}", file=sys.stderr)
    return None


def cpu_per_request(pa: Path, url: str, c: int, args: argparse.Namespace, tmp: Path) -> str:
    """Each tool's CPU time per request, start-up excluded: the difference between a run of
    3 windows of W ms and one of 3 windows of 3W ms (with -s 1000 both stop at 3 windows).
    """
    cells = []
    for tool in TOOLS:
        runs = []
        for window in (args.window_ms, 3 * args.window_ms):
            opts = argparse.Namespace(**{**vars(args), "window_ms": window, "stability": 1000})
            r = measure(command(tool, pa, url, c, opts, tmp / "cpu.csv"), tmp / "cpu.csv")
            if r is None:
                return f"| {c} | failed | |"
            runs.append((r["cpu_s"], r["throughput"] * 3 * window / 1000))
        (cpu1, n1), (cpu3, n3) = runs
        cells.append(f"{(cpu3 - cpu1) / max(n3 - n1, 1.0) * 1e6:.1f} us")
    return f"| {c} | {cells[0]} | {cells[1]} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window-ms", type=int, default=3000, help="-p of both tools")
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--stability", type=int, default=20, help="-s of both tools")
    parser.add_argument(
        "--nice", type=int, default=0,
        help="scheduling priority of the whole run (server and both tools), e.g. -10 (root)",
    )  # fmt: skip
    parser.add_argument(
        "--cpu", action="store_true",
        help="also measure each tool's CPU time per request (start-up excluded)",
    )  # fmt: skip
    parser.add_argument(
        "--bench-args", nargs=argparse.REMAINDER, default=[],
        help="extra arguments for hepinfer bench (e.g. --engine python), last on the line",
    )  # fmt: skip
    args = parser.parse_args()
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # the server and both tools inherit it
    peers = peers_dir()
    pa = peers / "bin" / "perf_analyzer"
    if not (peers / "READY-pa").exists():
        print(f"perf_analyzer not installed under {peers} (set HEPINFER_PEERS)", file=sys.stderr)
        return 2
    rows: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        onnx_path = tmp / "jet.onnx"
        repo = hepinfer_repo(tmp / "repo", onnx_path, jet_onnx(JET_ONNX, onnx_path))
        src = Path(os.environ["PYTHONPATH"].split(":")[0]) if "PYTHONPATH" in os.environ else None
        with serve_process(repo, src=src) as (_, url):
            for round_ in range(args.rounds):
                for c in args.concurrency:
                    order = TOOLS if (round_ + c) % 2 == 0 else TOOLS[::-1]
                    results = {}
                    for tool in order:
                        out = tmp / "out.csv"
                        results[tool] = measure(command(tool, pa, url, c, args, out), out)
                        r = results[tool]
                        print(
                            f"round {round_ + 1} c={c} {tool}: "
                            + (
                                f"{r['throughput']:.0f} infer/s, p50 {r['p50']:.0f} us, "
                                f"p99 {r['p99']:.0f} us"
                                if r
                                else "failed"
                            ),
                            file=sys.stderr,
                        )
                    if all(results.values()):  # a round counts only when both measured
                        for tool, r in results.items():
                            assert r is not None
                            rows.setdefault((tool, c), []).append(r)
            cpu_rows = (
                [cpu_per_request(pa, url, c, args, tmp) for c in args.concurrency]
                if args.cpu
                else []
            )
    print("| c | perf_analyzer: infer/s, p50, p99 | hepinfer bench: infer/s, p50, p99 | "
          "ratio bench/pa: throughput (median; per round) |")  # fmt: skip
    print("|---|---|---|---|")
    for c in args.concurrency:
        if (TOOLS[0], c) not in rows:
            print(f"| {c} | no round where both tools measured | | |")
            continue
        med = {
            tool: {
                k: statistics.median(r[k] for r in rows[tool, c])
                for k in ("throughput", "p50", "p99")
            }
            for tool in TOOLS
        }
        per_round = [
            h["throughput"] / p["throughput"]
            for p, h in zip(rows["perf_analyzer", c], rows["hepinfer bench", c], strict=True)
        ]
        cells = [
            f"{med[t]['throughput']:,.0f}, {med[t]['p50'] / 1e3:.2f} ms, {med[t]['p99'] / 1e3:.2f} ms"
            for t in TOOLS
        ]
        ratio = med["hepinfer bench"]["throughput"] / med["perf_analyzer"]["throughput"]
        rounds = ", ".join(f"{r:.2f}" for r in per_round)
        print(f"| {c} | {cells[0]} | {cells[1]} | **{ratio:.2f}x** ({rounds}) |")
    if cpu_rows:
        print("\n| c | perf_analyzer: CPU per request | hepinfer bench: CPU per request |")
        print("|---|---|---|")
        print("\n".join(cpu_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
