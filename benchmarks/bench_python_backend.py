"""Per-request overhead of a Triton python-backend model: hepinfer against Triton 2.51.

The same repository folder is served by both servers, unchanged: ``identity`` (a
python-backend ``model.py`` returning its input, FP32 [16], no batching) and
``identity_dyn`` (the same ``model.py``, max_batch_size 8 with dynamic batching, no queue
delay). perf_analyzer over gRPC (``--protocol http`` for HTTP), batch 1, at each
concurrency; the servers stay up and the measurements are interleaved over `--rounds`
rounds (medians reported). What one request costs beyond the model's own (empty) work is the
latency at concurrency 1; throughput at higher concurrency shows how the per-request cost
scales. Each measurement also divides the CPU time of the server's whole process tree (the
server and its python instance processes: utime + stime from /proc) by the requests answered,
a figure that moves far less with other load on a shared machine than throughput does.
`--before CHECKOUT` adds ``hepinfer serve`` from another checkout's ``src`` (before/after)::

    .venv/bin/python benchmarks/bench_python_backend.py --concurrency 1 4 16
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from tests.serve.backends.pb_models import IDENTITY, write_python_model

from bench_server import perf, serve_process
from triton_peer import TritonPeer, free_port, peers_dir

TICKS = os.sysconf("SC_CLK_TCK")

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


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            out += _tree(int(child))
    return out


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of `pid` and its descendants, by process."""
    out = {}
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[p] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def answered(url: str, model: str) -> int:
    """Requests the model answered so far (ModelStatistics, gRPC)."""
    import tritonclient.grpc as grpcclient

    stats = grpcclient.InferenceServerClient(url).get_inference_statistics(model, as_json=True)
    return int(stats["model_stats"][0]["inference_stats"]["success"].get("count", 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seconds", type=float, default=2.0, help="perf_analyzer window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stability", type=int, default=20)
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument(
        "--before", type=Path, help="also serve this checkout's src (hepinfer-before)"
    )
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
    http = args.protocol == "http"
    samples: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        repo = write_repository(Path(tmp) / "repo")
        # name -> (pid, gRPC url for statistics, url perf_analyzer drives)
        servers: dict[str, tuple[int, str, str]] = {}
        checkouts = {"hepinfer": None, "hepinfer-before": args.before}
        for name, checkout in checkouts.items():
            if name != "hepinfer" and checkout is None:
                continue
            port = free_port()
            proc, url = stack.enter_context(
                serve_process(
                    repo,
                    *(["--http-port", str(port)] if http else []),
                    src=None if checkout is None else checkout.resolve() / "src",
                )
            )
            servers[name] = (proc.pid, url, f"127.0.0.1:{port}" if http else url)
        triton = stack.enter_context(TritonPeer(repo))
        assert triton.process is not None
        servers["triton"] = (
            triton.process.pid,
            triton.grpc_url,
            triton.http_url if http else triton.grpc_url,
        )
        extra = ["--shape", "INPUT0:16", *(["-i", "http"] if http else [])]
        for round_ in range(args.rounds):
            for c in args.concurrency:
                for model in ("identity", "identity_dyn"):
                    for server, (pid, stats_url, url) in servers.items():
                        cpu0, n0 = tree_cpu(pid), answered(stats_url, model)
                        try:
                            r = perf(pa, url, model, c, args.seconds, args.stability, extra)
                        except RuntimeError:  # never stable on a loaded machine: no sample
                            print(f"round {round_ + 1} {server} {model} c={c}: no stable window")
                            continue
                        cpu1, n1 = tree_cpu(pid), answered(stats_url, model)
                        used = sum(t - cpu0.get(p, 0.0) for p, t in cpu1.items())
                        r["cpu_us"] = used / max(1, n1 - n0) * 1e6
                        samples.setdefault((server, model, c), []).append(r)
                        print(
                            f"round {round_ + 1} {server:15} {model:12} c={c:<2} "
                            f"{r['throughput']:8.0f} infer/s p50 {r['p50']:7.0f} us "
                            f"p99 {r['p99']:7.0f} us CPU {r['cpu_us']:6.1f} us/request "
                            f"(load {os.getloadavg()[0]:.1f})",
                            flush=True,
                        )
    print()
    names = list(dict.fromkeys(s for s, _, _ in samples))
    head = " | ".join(f"{n} infer/s, p50, CPU/request" for n in names)
    print(f"| model | c | {head} | hepinfer / Triton: throughput, CPU/request |")
    print("|---|---:|" + "---|" * len(names) + "---|")
    for c in args.concurrency:
        for model in ("identity", "identity_dyn"):
            nan = {"throughput": float("nan"), "p50": float("nan"), "cpu_us": float("nan")}
            med = {
                n: {
                    k: statistics.median(s[k] for s in samples[(n, model, c)])
                    for k in ("throughput", "p50", "cpu_us")
                }
                if samples.get((n, model, c))
                else nan
                for n in names
            }
            cells = " | ".join(
                f"{m['throughput']:,.0f}, {m['p50']:,.0f} us, {m['cpu_us']:.0f} us"
                for m in med.values()
            )
            ours, theirs = med["hepinfer"], med["triton"]
            print(
                f"| {model} | {c} | {cells} | {ours['throughput'] / theirs['throughput']:.2f}x, "
                f"{ours['cpu_us'] / theirs['cpu_us']:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
