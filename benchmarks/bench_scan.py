"""Scaling scan (issue 7) and `hepinfer bench` against perf_analyzer, on the jet tagger.

1. ``hepinfer bench --scan --quick``: 1, 2, 4, ..., 512 simulated client jobs, each at
   ``--event-rate`` events/s, against ``hepinfer serve`` running the 16-64-32-32-5 jet tagger
   (dynamic batching), client and server in separate processes. Writes the table, CSV and
   PNG under ``--out``.
2. The same server measured by perf_analyzer 2.41 and by ``hepinfer bench`` at the same
   concurrencies (same window, stability and trial settings), alternating, to show the two
   load generators agree.

::

    .venv/bin/python benchmarks/bench_scan.py --out bench-out
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, hepinfer_repo, hepinfer_server, jet_onnx, perf
from triton_peer import peers_dir


def hepinfer_bench(
    url: str, model: str, concurrency: int, seconds: float, stability: int
) -> dict[str, float]:
    """One `hepinfer bench` measurement, read back from its perf_analyzer-style CSV."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hb.csv"
        command = [
            sys.executable, "-m", "hepinfer", "bench", "-m", model, "-u", url, "-i", "grpc",
            "-b", "1", "--concurrency-range", f"{concurrency}:{concurrency}",
            "-p", str(int(seconds * 1000)), "--max-trials", "10", "-s", str(stability),
            "-f", str(out),
        ]  # fmt: skip
        subprocess.run(command, capture_output=True, text=True, check=True)
        with out.open() as f:
            row = next(csv.DictReader(f))
    return {
        "throughput": float(row["Inferences/Second"]),
        "p50": float(row["p50 latency"]),
        "p99": float(row["p99 latency"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"), help="output folder")
    parser.add_argument("--model", default="jet_dyn", choices=["jet", "jet_dyn"])
    parser.add_argument("--event-rate", type=float, default=10.0, help="events/s per job")
    parser.add_argument("--clients", default="1:512")
    parser.add_argument("--processes", type=int, default=1, help="client processes of the scan")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=3.0, help="comparison window")
    parser.add_argument("--stability", type=int, default=20)
    args = parser.parse_args()
    pa = peers_dir() / "bin" / "perf_analyzer"
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        onnx_path = tmp / "jet.onnx"
        names = jet_onnx(JET_ONNX, onnx_path)
        repo = hepinfer_repo(tmp / "hepinfer", onnx_path, names)
        with hepinfer_server(repo) as url:
            command = [
                sys.executable, "-m", "hepinfer", "bench", "-m", args.model, "-u", url,
                "--scan", "--quick", "--clients", args.clients,
                "--event-rate", str(args.event_rate), "--processes", str(args.processes),
                "-o", str(args.out / "scan"),
            ]  # fmt: skip
            print("$", " ".join(command[1:]), flush=True)
            t0 = time.monotonic()
            subprocess.run(command, check=True)
            print(f"scan took {time.monotonic() - t0:.0f} s; outputs {args.out}/scan.*")
            if not args.concurrency:
                return 0
            if not pa.exists():
                print(f"no perf_analyzer at {pa}: comparison skipped", file=sys.stderr)
                return 0
            print()
            print("| c | perf_analyzer: infer/s, p50, p99 | hepinfer bench: infer/s, p50, p99 "
                  "| ratio bench/pa: throughput, p50, p99 |")  # fmt: skip
            print("|---|---|---|---|")
            for c in args.concurrency:
                a = perf(pa, url, args.model, c, args.seconds, args.stability)
                b = hepinfer_bench(url, args.model, c, args.seconds, args.stability)
                cells = [
                    f"{r['throughput']:,.0f}, {r['p50'] / 1000:.2f} ms, {r['p99'] / 1000:.2f} ms"
                    for r in (a, b)
                ]
                ratios = ", ".join(f"{b[k] / a[k]:.2f}x" for k in ("throughput", "p50", "p99"))
                print(f"| {c} | {cells[0]} | {cells[1]} | {ratios} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
