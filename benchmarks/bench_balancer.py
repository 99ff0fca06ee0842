"""What the NGINX balancer (`hepinfer serve-lb`) costs and gives, measured with perf_analyzer.

The 16-64-32-32-5 jet tagger (as in ``bench_server.py``, dynamic batching), batch 1 per
request, perf_analyzer over gRPC at the given concurrencies, against:

- one ``hepinfer serve`` replica, directly;
- the same replica behind nginx (the cost of the extra hop);
- two replicas behind nginx (least_conn).

Prints a Markdown table and the ratios against the direct replica::

    .venv/bin/python benchmarks/bench_balancer.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, hepinfer_repo, hepinfer_server, jet_onnx, perf
from hepinfer.serve.balancer import BalancerConfig, NginxBalancer
from triton_peer import peers_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--seconds", type=float, default=3.0, help="perf_analyzer window")
    parser.add_argument("--stability", type=int, default=20, help="perf_analyzer -s (percent)")
    parser.add_argument("--model", default="jet_dyn", help="jet (no batching) or jet_dyn")
    args = parser.parse_args()
    peers = peers_dir()
    pa = peers / "bin" / "perf_analyzer"
    if not (peers / "READY-pa").exists():
        print(f"perf_analyzer not installed under {peers} (set HEPINFER_PEERS)", file=sys.stderr)
        return 2
    rows: dict[str, dict[int, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        onnx_path = tmp / "jet.onnx"
        repo = hepinfer_repo(tmp / "repo", onnx_path, jet_onnx(JET_ONNX, onnx_path))
        urls = [stack.enter_context(hepinfer_server(repo)) for _ in range(2)]
        one = stack.enter_context(NginxBalancer(BalancerConfig((urls[0],), grpc_port=0)))
        two = stack.enter_context(NginxBalancer(BalancerConfig(tuple(urls), grpc_port=0)))
        setups = {
            "1 replica, direct": urls[0],
            "1 replica behind nginx": one.grpc_url,
            "2 replicas behind nginx (least_conn)": two.grpc_url,
        }
        for label, url in setups.items():
            for c in args.concurrency:
                r = perf(pa, url, args.model, c, args.seconds, args.stability)
                rows.setdefault(label, {})[c] = r
                print(f"{label:38} c={c:<3} {r['throughput']:9.0f} infer/s  "
                      f"p50 {r['p50'] / 1000:.2f} ms  p99 {r['p99'] / 1000:.2f} ms",
                      flush=True)  # fmt: skip
    cs = args.concurrency
    print()
    print("| setup | " + " | ".join(f"c={c}: infer/s, p50, p99" for c in cs) + " |")
    print("|---|" + "---|" * len(cs))
    for label, by_c in rows.items():
        cells = [
            f"{by_c[c]['throughput']:,.0f}, {by_c[c]['p50'] / 1000:.2f} ms, "
            f"{by_c[c]['p99'] / 1000:.2f} ms"
            for c in cs
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    base = rows["1 replica, direct"]
    print()
    print(
        "| throughput ratio against 1 replica direct | " + " | ".join(f"c={c}" for c in cs) + " |"
    )
    print("|---|" + "---|" * len(cs))
    for label, by_c in rows.items():
        if by_c is base:
            continue
        cells = [f"{by_c[c]['throughput'] / base[c]['throughput']:.2f}" for c in cs]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
