"""Soak: perf_analyzer at concurrency 16 against ``hepinfer serve`` for minutes, recording the
server's resident memory (RSS) and perf_analyzer's throughput and latencies over time.

The jet tagger of ``bench_server.py`` (dynamic batching), one perf_analyzer window after
another for `--minutes`; the server's VmRSS is read from /proc after every window. Prints a
Markdown table (time, infer/s, p50, p99, RSS) and writes a PNG plot of RSS and p99 over time::

    .venv/bin/python benchmarks/soak_server.py --minutes 10 -o benchmarks/soak.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, hepinfer_repo, jet_onnx, perf, serve_process
from triton_peer import peers_dir


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid`, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def plot(rows: list[dict[str, float]], path: Path) -> None:
    """RSS and p99 latency against time."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t"] / 60 for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    top.plot(t, [r["rss"] for r in rows], marker=".")
    top.set_ylabel("server RSS (MiB)")
    top.set_ylim(bottom=0)
    bottom.plot(t, [r["p99"] / 1000 for r in rows], marker=".", label="p99")
    bottom.plot(t, [r["p50"] / 1000 for r in rows], marker=".", label="p50")
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("minutes")
    bottom.legend()
    top.set_title("hepinfer serve under perf_analyzer c=16 (jet tagger, dynamic batching)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--window", type=float, default=20.0, help="seconds per window")
    parser.add_argument("-o", "--output", type=Path, help="PNG plot of RSS and p99")
    args = parser.parse_args()
    pa = peers_dir() / "bin" / "perf_analyzer"
    if not pa.exists():
        print(f"perf_analyzer not installed under {peers_dir()}", file=sys.stderr)
        return 2
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        onnx_path = tmp / "jet.onnx"
        names = jet_onnx(JET_ONNX, onnx_path)
        repo = hepinfer_repo(tmp / "repo", onnx_path, names)
        with serve_process(repo) as (server, url):
            start = time.monotonic()
            print("| minute | infer/s | p50 (ms) | p99 (ms) | server RSS (MiB) |")
            print("|---:|---:|---:|---:|---:|")
            while time.monotonic() - start < args.minutes * 60:
                r = perf(pa, url, "jet_dyn", args.concurrency, args.window, 100)
                row = {"t": time.monotonic() - start, "rss": rss_mib(server.pid), **r}
                rows.append(row)
                print(
                    f"| {row['t'] / 60:.1f} | {r['throughput']:,.0f} | {r['p50'] / 1000:.2f} "
                    f"| {r['p99'] / 1000:.2f} | {row['rss']:.0f} |",
                    flush=True,
                )
    rss = [r["rss"] for r in rows]
    print(f"\nRSS first {rss[0]:.0f} MiB, last {rss[-1]:.0f} MiB, max {max(rss):.0f} MiB")
    if args.output:
        plot(rows, args.output)
        print(f"plot: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
