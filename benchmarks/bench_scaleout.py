"""Replica scan (issue 18): `hepinfer bench --scan` against 1, 2 and 4 replicas behind nginx.

The 16-64-32-32-5 jet tagger (``three_layer_keras.onnx`` with a free batch axis, dynamic
batching), each replica a ``hepinfer serve`` process on this machine, nginx (``hepinfer
serve-lb``'s ``NginxBalancer``, least_conn) in front. For each replica count the scan runs
``hepinfer bench --scan`` in its own process with closed-loop jobs (``--work-fraction 0``
and an event rate no job can reach, so every job keeps one request in flight: jobs =
concurrency), 1..32 jobs. The knee of a replica count is the smallest concurrency whose
throughput reaches 90 % of that count's peak. Writes ``OUT/scaleout.csv``, a PNG of
throughput (and p99) against concurrency per replica count, and prints a Markdown table::

    .venv/bin/python benchmarks/bench_scaleout.py --out bench-out
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, hepinfer_repo, hepinfer_server, jet_onnx
from hepinfer.serve.balancer import BalancerConfig, NginxBalancer

#: a target rate no job reaches: each job sends its next request as soon as one answers
_CLOSED_LOOP_RATE = "100000"


def scan(url: str, model: str, clients: str, window: float, out: Path) -> list[dict[str, float]]:
    """One `hepinfer bench --scan` run, read back from its CSV."""
    command = [
        sys.executable, "-m", "hepinfer", "bench", "-m", model, "-u", url, "--scan",
        "--clients", clients, "--event-rate", _CLOSED_LOOP_RATE, "--work-fraction", "0",
        "--warmup", "1", "--window", str(window), "-o", str(out),
    ]  # fmt: skip
    print("$ hepinfer", " ".join(command[3:]), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with out.with_suffix(".csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def knee(points: list[dict[str, float]], fraction: float = 0.9) -> int:
    """The smallest concurrency whose throughput reaches `fraction` of the peak."""
    peak = max(p["events_per_s"] for p in points)
    return int(next(p["clients"] for p in points if p["events_per_s"] >= fraction * peak))


def plot(results: dict[int, list[dict[str, float]]], path: Path) -> None:
    """Throughput and p99 against concurrency, one line per replica count."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for replicas, points in results.items():
        c = [p["clients"] for p in points]
        line = ax1.plot(
            c, [p["events_per_s"] for p in points], "o-", label=f"{replicas} replica(s)"
        )
        k = knee(points)
        ax1.axvline(k, color=line[0].get_color(), lw=1, ls=":", alpha=0.8)
        ax2.plot(c, [p["p99_us"] / 1e3 for p in points], "o-", label=f"{replicas} replica(s) p99")
        ax2.plot(c, [p["p50_us"] / 1e3 for p in points], "x--", color=line[0].get_color(), lw=1)
    ax1.set_ylabel("throughput [inferences/s]")
    ax2.set_ylabel("latency [ms] (o p99, x p50)")
    ax2.set_yscale("log")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency (closed-loop client jobs)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("jet tagger, hepinfer serve replicas behind nginx least_conn (dotted: knee)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"), help="output folder")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", default="1:32", help="job counts, as --clients of the scan")
    parser.add_argument("--window", type=float, default=3.0, help="seconds per point")
    parser.add_argument("--model", default="jet_dyn", choices=["jet", "jet_dyn"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[int, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        onnx_path = tmp / "jet.onnx"
        repo = hepinfer_repo(tmp / "repo", onnx_path, jet_onnx(JET_ONNX, onnx_path))
        for n in args.replicas:
            with ExitStack() as stack:
                urls = [stack.enter_context(hepinfer_server(repo)) for _ in range(n)]
                lb = stack.enter_context(NginxBalancer(BalancerConfig(tuple(urls), grpc_port=0)))
                time.sleep(1.0)
                results[n] = scan(lb.grpc_url, args.model, args.clients, args.window,
                                  args.out / f"scaleout-{n}")  # fmt: skip
    with (args.out / "scaleout.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["replicas", "concurrency", "infer_per_s", "p50_us", "p99_us", "failed"])
        for n, points in results.items():
            for p in points:
                writer.writerow([n, int(p["clients"]), f"{p['events_per_s']:.1f}",
                                 f"{p['p50_us']:.0f}", f"{p['p99_us']:.0f}", int(p["failures"])])  # fmt: skip
    plot(results, args.out / "scaleout.png")
    cs = [int(p["clients"]) for p in next(iter(results.values()))]
    print()
    print("| replicas | " + " | ".join(f"c={c}" for c in cs) + " | knee (90 % of peak) |")
    print("|---|" + "---|" * (len(cs) + 1))
    for n, points in results.items():
        cells = [
            f"{p['events_per_s']:,.0f}/s, {p['p50_us'] / 1e3:.2f}/{p['p99_us'] / 1e3:.2f} ms"
            for p in points
        ]
        peak = max(p["events_per_s"] for p in points)
        print(f"| {n} | " + " | ".join(cells) + f" | c={knee(points)}, peak {peak:,.0f}/s |")
    print(f"\nfailed requests: {sum(int(p['failures']) for ps in results.values() for p in ps)}")
    print(f"wrote {args.out / 'scaleout.csv'} and {args.out / 'scaleout.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
