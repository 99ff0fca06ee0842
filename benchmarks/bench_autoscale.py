"""Autoscaling simulation (issue 18): a load ramp against `hepinfer autoscale`'s controller.

The controller (`hepinfer.serve.scaler.Autoscaler`) starts ``hepinfer serve`` replicas of a
repository on this machine behind nginx (least_conn), scrapes their ``/metrics`` every
``--interval`` s, computes SuperSONIC's queue-time expression over ``--window`` s and scales
between ``--min`` and ``--max`` replicas as KEDA's HPA would (threshold, stabilisation,
cooldown), draining a replica out of nginx before stopping it. The load is the real client
(`hepinfer.bench.Target`, gRPC, closed loop) following ``--stages`` (seconds:concurrency,
default 1 -> 4 -> 16 -> 4 -> 1 over 3.5 minutes). Models: ``jet`` (the 16-64-32-32-5 jet
tagger, no dynamic batching, one instance) or ``slow`` (eight 256x256 MatMul+Tanh layers, no
batching, one instance: a model whose queue fills clearly). Writes ``OUT/autoscale.csv`` (one
row per second: concurrency, answered, failed, p50/p99, replicas, queue time) and
``OUT/autoscale.png``; exits 1 if any request failed::

    .venv/bin/python benchmarks/bench_autoscale.py --out bench-out
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from tests.serve.models import slow_repository

from bench_server import HEPINFER_CONFIG, JET_ONNX, jet_onnx
from hepinfer.bench.ramp import RampResult, Stage, run_ramp
from hepinfer.bench.target import Target
from hepinfer.serve.autoscale import ScalePolicy
from hepinfer.serve.scaler import AutoscaleOptions, Autoscaler, ScaleEvent


def jet_repository(root: Path) -> Path:
    """The jet tagger as model `jet`: no dynamic batching, one instance."""
    (root / "jet" / "1").mkdir(parents=True)
    names = jet_onnx(JET_ONNX, root / "jet" / "1" / "model.onnx")
    (root / "jet" / "config.pbtxt").write_text(
        HEPINFER_CONFIG.format(name="jet", input=names[0], output=names[1], batching="")
        + "instance_group [{ count: 1 kind: KIND_CPU }]\n"
    )
    return root


def parse_stages(text: str) -> list[Stage]:
    """``30:1,60:16`` -> stages (seconds:concurrency)."""
    out = []
    for part in text.split(","):
        seconds, _, conc = part.partition(":")
        out.append(Stage(float(seconds), int(conc)))
    return out


def replicas_at(events: list[ScaleEvent], t: float, offset: float) -> tuple[int, float | None]:
    """Replicas and queue time of the last control step before ramp time `t`."""
    last = None
    for e in events:
        if e.applied_s - offset <= t:
            last = e
    return (last.replicas, last.queue_ms) if last is not None else (0, None)


def plot(rows: list[dict[str, float]], events: list[ScaleEvent], offset: float, path: Path,
         threshold: float, title: str) -> None:  # fmt: skip
    """Load, throughput, replicas and queue time against time."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["time_s"] for r in rows]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ax1.plot(t, [r["ok"] for r in rows], label="answered requests/s")
    ax1.plot(t, [r["failed"] for r in rows], "r", label="failed requests/s")
    ax1b = ax1.twinx()
    ax1b.step(t, [r["concurrency"] for r in rows], "k--", where="post", lw=1)
    ax1b.set_ylabel("client concurrency (dashed)")
    ax1.set_ylabel("requests/s")
    ax1.legend(fontsize=8, loc="upper left")
    et = [e.time_s - offset for e in events]
    at = [e.applied_s - offset for e in events]
    ax2.step(at, [e.replicas for e in events], where="post", label="replicas serving")
    ax2.plot(et, [e.recommended for e in events], ".", ms=3, label="HPA recommendation")
    ax2.set_ylabel("replicas")
    ax2.legend(fontsize=8, loc="upper left")
    ax3.plot(et, [e.queue_ms if e.queue_ms is not None else 0.0 for e in events],
             label="sum rate(queue_us) / (sum rate(exec_count) * 1000)")  # fmt: skip
    ax3.axhline(threshold, color="r", lw=1, ls=":", label=f"threshold {threshold:g} ms")
    ax3.plot(t, [r["p99_us"] / 1e3 for r in rows], lw=0.8, alpha=0.6, label="client p99 [ms]")
    ax3.set_yscale("symlog", linthresh=0.1)
    ax3.set_ylabel("ms")
    ax3.set_xlabel("time [s]")
    ax3.legend(fontsize=8, loc="upper left")
    for ax in (ax1, ax2, ax3):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"), help="output folder")
    parser.add_argument("--model", default="jet", choices=["jet", "slow"])
    parser.add_argument("--stages", default="30:1,30:4,60:16,30:4,60:1")
    parser.add_argument("--min", type=int, default=1)
    parser.add_argument("--max", type=int, default=4)
    parser.add_argument("--threshold-ms", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=10.0, help="rate() window, s")
    parser.add_argument("--interval", type=float, default=1.0, help="scrape interval, s")
    parser.add_argument("--cooldown", type=float, default=10.0)
    parser.add_argument("--down-stabilization", type=float, default=20.0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stages = parse_stages(args.stages)
    policy = ScalePolicy(
        min_replicas=args.min, max_replicas=args.max, threshold_ms=args.threshold_ms,
        window_s=args.window, cooldown_s=args.cooldown,
        down_stabilization_s=args.down_stabilization,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        repo = jet_repository(tmp) if args.model == "jet" else slow_repository(tmp)
        options = AutoscaleOptions((repo,), policy, interval_s=args.interval, grpc_port=0,
                                   model=args.model)  # fmt: skip
        with Autoscaler(options) as scaler:
            scaler.run_in_thread()

            async def load() -> tuple[RampResult, float]:
                async with Target(scaler.grpc_url, args.model, timeout_s=60.0) as target:
                    offset = time.monotonic() - scaler.t0
                    return await run_ramp(target, stages), offset

            result, offset = asyncio.run(load())
            scaler.stop_thread()
            events = list(scaler.events)
    rows = []
    for sec in result.per_second():
        replicas, queue = replicas_at(events, sec.time_s + 1, offset)
        rows.append({
            "time_s": sec.time_s, "concurrency": sec.concurrency, "ok": sec.ok,
            "failed": sec.failed, "p50_us": sec.p50_us, "p99_us": sec.p99_us,
            "replicas": replicas, "queue_ms": -1.0 if queue is None else queue,
        })  # fmt: skip
    with (args.out / "autoscale.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    title = (f"autoscaling {args.model}: {args.min}-{args.max} replicas, threshold "
             f"{args.threshold_ms:g} ms over {args.window:g} s, stages {args.stages}")  # fmt: skip
    plot(rows, events, offset, args.out / "autoscale.png", args.threshold_ms, title)
    changes = [e for i, e in enumerate(events) if i and e.replicas != events[i - 1].replicas]
    print(title)
    for e in changes:
        print(f"  decided t={e.time_s - offset:6.1f} s, done t={e.applied_s - offset:6.1f} s: "
              f"{e.replicas} replica(s); {e.reason}")  # fmt: skip
    print(
        "| stage | concurrency | answered/s | p50 ms | p99 ms | replicas (end) | queue ms (mean) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    start = 0.0
    for i, stage in enumerate(stages):
        inside = [r for r in rows if start <= r["time_s"] < start + stage.seconds]
        queues = [r["queue_ms"] for r in inside if r["queue_ms"] >= 0]
        print(f"| {i + 1} ({start:.0f}-{start + stage.seconds:.0f} s) | {stage.concurrency} | "
              f"{sum(r['ok'] for r in inside) / stage.seconds:,.0f} | "
              f"{sum(r['p50_us'] for r in inside) / len(inside) / 1e3:.2f} | "
              f"{max(r['p99_us'] for r in inside) / 1e3:.2f} | {inside[-1]['replicas']} | "
              f"{sum(queues) / max(len(queues), 1):.2f} |")  # fmt: skip
        start += stage.seconds
    print(f"requests: {result.requests}, failed: {result.failures}; "
          f"replicas: max {max(e.replicas for e in events)}, changes {len(changes)}")  # fmt: skip
    print(f"wrote {args.out / 'autoscale.csv'} and {args.out / 'autoscale.png'}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
