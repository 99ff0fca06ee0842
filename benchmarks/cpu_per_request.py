"""Server CPU time per request, before and after: a load-robust regression check.

Throughput on a shared machine moves with other jobs; the CPU time the server process spends
per answered request moves much less. Starts ``hepinfer serve`` from two checkouts (as
``bench_server_ab.py``), drives each with perf_analyzer at a fixed concurrency in
interleaved rounds, and divides the server's CPU time (utime + stime from /proc) by the
requests it answered (ModelStatistics)::

    .venv/bin/python benchmarks/cpu_per_request.py --before ../before
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, hepinfer_repo, jet_onnx, serve_process
from triton_peer import peers_dir

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def served(url: str, model: str) -> int:
    """Requests the model answered so far."""
    import tritonclient.grpc as grpcclient

    stats = grpcclient.InferenceServerClient(url).get_inference_statistics(model, as_json=True)
    return int(stats["model_stats"][0]["inference_stats"]["success"].get("count", 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pa = peers_dir() / "bin" / "perf_analyzer"
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        onnx_path = tmp / "jet.onnx"
        repo = hepinfer_repo(tmp / "repo", onnx_path, jet_onnx(JET_ONNX, onnx_path))
        with (
            serve_process(repo, src=args.before.resolve() / "src") as before,
            serve_process(repo, src=REPO / "src") as after,
        ):
            servers = {"before": before, "after": after}
            for round_ in range(args.rounds):
                for model in ("jet", "jet_dyn"):
                    order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
                    for which in order:
                        proc, url = servers[which]
                        cpu0, n0 = cpu_seconds(proc.pid), served(url, model)
                        subprocess.run(
                            [str(pa), "-m", model, "-u", url, "-i", "grpc",
                             "--concurrency-range", f"{args.concurrency}:{args.concurrency}",
                             "-p", str(int(args.seconds * 1000)), "--max-trials", "1",
                             "-s", "100"],
                            capture_output=True, check=False,
                        )  # fmt: skip
                        cpu1, n1 = cpu_seconds(proc.pid), served(url, model)
                        us = (cpu1 - cpu0) / max(1, n1 - n0) * 1e6
                        results.setdefault((which, model), []).append(us)
                        print(f"round {round_ + 1} {which:6} {model:8} {n1 - n0:7d} requests "
                              f"{us:6.1f} us CPU/request", flush=True)  # fmt: skip
    print()
    print(f"| model | before (us CPU/request) | after | after/before |  (c={args.concurrency})")
    print("|---|---:|---:|---:|")
    for model in ("jet", "jet_dyn"):
        b = statistics.median(results["before", model])
        a = statistics.median(results["after", model])
        print(f"| {model} | {b:.1f} | {a:.1f} | {a / b:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
