"""Scaling scan: N simulated client jobs against one server, as in the SONIC papers.

Each job processes events at a target rate (`event_rate` per second): an event starts on the
job's schedule (1/rate apart, each job starting at a random phase), takes `work_fraction` of
the period of simulated CPU work (an `asyncio.sleep`, so the jobs cost no CPU), then sends
one inference request and waits for the answer (SONIC's synchronous mode). A job late for its
schedule starts the next event at once, without bursts to catch up. Below saturation every
job keeps its target rate; once the server (or the network, or this client process) cannot
answer fast enough, latency grows past the idle part of the period and the per-job rate
falls. The saturation point is the first number of jobs whose mean per-job rate is below
`saturation_threshold` times the target.

By default all jobs live in one asyncio loop sharing one gRPC channel; `processes` > 1 splits
them over that many worker processes (each with its own loop and channel, like separate
jobs), for machines where one Python process cannot drive the load. `client_cpu` reports how
busy the client processes were (1.0 = one core), so a client-bound scan is visible.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.bench.target import Sample, Target
from hepinfer.errors import BenchError

log = logging.getLogger(__name__)

#: 1, 2, 4, ..., 512 jobs
DEFAULT_CLIENTS = tuple(2**i for i in range(10))


@dataclass(frozen=True)
class ScanOptions:
    """What to scan and how long to measure each point."""

    clients: tuple[int, ...] = DEFAULT_CLIENTS
    event_rate: float = 10.0
    work_fraction: float = 0.5
    warmup_s: float = 2.0
    window_s: float = 5.0
    saturation_threshold: float = 0.95
    #: client processes the jobs are split over (1: all in this process's event loop)
    processes: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.clients or any(c < 1 for c in self.clients):
            msg = f"clients {list(self.clients)} must be a non-empty list of positive integers"
            raise BenchError(msg)
        if self.event_rate <= 0:
            msg = f"event rate {self.event_rate} per job must be positive"
            raise BenchError(msg)
        if not 0 <= self.work_fraction < 1:
            msg = f"work fraction {self.work_fraction} must be in [0, 1) of the event period"
            raise BenchError(msg)
        if self.window_s <= 0 or self.warmup_s < 0:
            msg = f"window {self.window_s} s must be positive and warm-up {self.warmup_s} s >= 0"
            raise BenchError(msg)
        if self.processes < 1:
            msg = f"processes {self.processes} must be at least 1"
            raise BenchError(msg)
        if not 0 < self.saturation_threshold <= 1:
            msg = f"saturation threshold {self.saturation_threshold} must be in (0, 1]"
            raise BenchError(msg)


#: time for worker processes to open their channels before the warm-up counts
_START_MARGIN_S = 0.5

#: --quick: 1..512 jobs, short windows (the whole scan takes a few minutes)
QUICK = ScanOptions(warmup_s=1.0, window_s=3.0)


@dataclass(frozen=True, slots=True)
class ScanPoint:
    """The measurement for one number of jobs (rates per second, times in µs)."""

    clients: int
    target_rate: float
    per_job_rate: float
    per_job_min_rate: float
    events_per_s: float
    server_inferences_per_s: float
    p50_us: float
    p90_us: float
    p95_us: float
    p99_us: float
    server_queue_us: float
    server_compute_us: float
    requests: int
    failures: int
    client_cpu: float

    @property
    def efficiency(self) -> float:
        """Mean per-job rate over the target rate."""
        return self.per_job_rate / self.target_rate


@dataclass(frozen=True, slots=True)
class ScanResult:
    """All points and the saturation point (None: not saturated in the scan)."""

    points: tuple[ScanPoint, ...]
    saturation_clients: int | None
    options: ScanOptions

    @property
    def failures_below_saturation(self) -> int:
        """Failed requests at every point before saturation."""
        limit = self.saturation_clients
        return sum(p.failures for p in self.points if limit is None or p.clients < limit)


class _Jobs:
    def __init__(self, target: Target, n: int, options: ScanOptions, seed: int) -> None:
        self.target = target
        self.options = options
        self.events = [0] * n
        self.samples: list[Sample] = []
        self.counting = False
        self._stop = False
        rng = np.random.default_rng(seed)
        period = 1.0 / options.event_rate
        now = time.perf_counter()
        self._tasks = [
            asyncio.ensure_future(self._job(i, now + float(phase), period))
            for i, phase in enumerate(rng.uniform(0, period, n))
        ]

    async def _job(self, index: int, next_t: float, period: float) -> None:
        work = self.options.work_fraction * period
        while not self._stop:
            delay = next_t - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            start = time.perf_counter()
            if work > 0:
                await asyncio.sleep(work)
            sample = await self.target.infer()
            if self.counting:
                self.samples.append(sample)
                self.events[index] += 1
            next_t = max(next_t + period, start)

    async def stop(self) -> None:
        self._stop = True
        await asyncio.gather(*self._tasks)


@dataclass(frozen=True, slots=True)
class _Part:
    """What the jobs of one process counted in the window."""

    events: tuple[int, ...]
    latencies_ns: np.ndarray
    failures: int
    cpu_s: float
    duration_s: float


async def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _run_part(
    target: Target, n: int, options: ScanOptions, seed: int, window_start: float
) -> _Part:
    """Run n jobs from now on; count the window starting at `window_start` (wall clock)."""
    jobs = _Jobs(target, n, options, seed)
    try:
        await _sleep_until(window_start)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        jobs.counting = True
        await asyncio.sleep(options.window_s)
        jobs.counting = False
        t1 = time.perf_counter()
        cpu1 = time.process_time()
    finally:
        await jobs.stop()
    ok = np.array([s.latency_ns for s in jobs.samples if s.ok], dtype=np.int64)
    failures = sum(1 for s in jobs.samples if not s.ok)
    return _Part(tuple(jobs.events), ok, failures, cpu1 - cpu0, t1 - t0)


def _part_in_process(
    spec: tuple[str, str, dict[str, Any]],
    n: int,
    options: ScanOptions,
    seed: int,
    window_start: float,
) -> _Part:
    """`_run_part` in a worker process, with its own loop and channel."""

    async def go() -> _Part:
        async with Target(spec[0], spec[1], **spec[2]) as target:
            return await _run_part(target, n, options, seed, window_start)

    return asyncio.run(go())


def _shares(n: int, processes: int) -> list[int]:
    """N jobs split over at most `processes` processes (sizes differ by at most 1)."""
    k = min(n, processes)
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


async def measure_point(
    target: Target, n: int, options: ScanOptions, pool: ProcessPoolExecutor | None = None
) -> ScanPoint:
    """Run n jobs (in this process, or split over `pool`'s processes): warm up, then count
    one window; the server's counters are read by this process around the same window.
    """
    seed = options.seed + 1000 * n
    if pool is None:
        window_start = time.time() + options.warmup_s
        parts_future: Any = asyncio.gather(_run_part(target, n, options, seed, window_start))
    else:
        window_start = time.time() + options.warmup_s + _START_MARGIN_S
        loop = asyncio.get_running_loop()
        parts_future = asyncio.gather(
            *(
                loop.run_in_executor(
                    pool, _part_in_process, target.spec, share, options, seed + i, window_start
                )
                for i, share in enumerate(_shares(n, options.processes))
            )
        )
    try:
        await _sleep_until(window_start)
        before = await target.counters()
        await _sleep_until(window_start + options.window_s)
        delta = await target.counters() - before
    finally:
        parts: list[_Part] = await parts_future
    rates = np.concatenate([np.array(p.events, dtype=np.float64) / p.duration_s for p in parts])
    lat = np.concatenate([p.latencies_ns for p in parts]).astype(np.float64) / 1e3
    if lat.size:
        pcts = [float(np.percentile(lat, q, method="inverted_cdf")) for q in (50, 90, 95, 99)]
    else:
        pcts = [0.0] * 4
    duration = options.window_s
    compute_ns = delta.input_ns + delta.infer_ns + delta.output_ns
    return ScanPoint(
        clients=n,
        target_rate=options.event_rate,
        per_job_rate=float(rates.mean()),
        per_job_min_rate=float(rates.min()),
        events_per_s=sum(p.latencies_ns.size / p.duration_s for p in parts),
        server_inferences_per_s=delta.inference_count / duration,
        p50_us=pcts[0],
        p90_us=pcts[1],
        p95_us=pcts[2],
        p99_us=pcts[3],
        server_queue_us=delta.queue_ns / delta.queue_count / 1e3 if delta.queue_count else 0.0,
        server_compute_us=compute_ns / delta.infer_count / 1e3 if delta.infer_count else 0.0,
        requests=int(lat.size),
        failures=sum(p.failures for p in parts),
        client_cpu=sum(p.cpu_s / p.duration_s for p in parts),
    )


def _start_pool(processes: int) -> ProcessPoolExecutor:
    """Worker processes (spawned: gRPC must not be forked), started and warm."""
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    list(pool.map(_warm, [0.5] * processes))
    return pool


def _warm(seconds: float) -> None:
    import hepinfer.bench.target  # noqa: F401  (import grpc and numpy once, before timing)

    time.sleep(seconds)


async def scan(target: Target, options: ScanOptions) -> ScanResult:
    """Measure every number of jobs in `options.clients` (in order) and find saturation."""
    points = []
    saturation = None
    pool = None
    if options.processes > 1:
        pool = await asyncio.get_running_loop().run_in_executor(
            None, _start_pool, options.processes
        )
    try:
        for n in options.clients:
            point = await measure_point(target, n, options, pool)
            log.info(
                "%d jobs: %.2f events/s per job (target %g), p99 %.0f us, %d failed",
                n,
                point.per_job_rate,
                options.event_rate,
                point.p99_us,
                point.failures,
            )
            points.append(point)
            if saturation is None and point.efficiency < options.saturation_threshold:
                saturation = n
    finally:
        if pool is not None:
            pool.shutdown()
    return ScanResult(tuple(points), saturation, options)


# ---------------------------------------------------------------------------- reports
_COLUMNS = tuple(f.name for f in fields(ScanPoint))


def write_scan_csv(result: ScanResult, path: Path) -> None:
    """One row per number of jobs (rates per second, times in µs)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(_COLUMNS)
        for p in result.points:
            writer.writerow(
                [v if isinstance(v, int) else f"{v:.6g}" for v in (getattr(p, c) for c in _COLUMNS)]
            )


def format_scan_table(result: ScanResult) -> str:
    """A fixed-width table and a line naming the saturation point."""
    header = (
        f"{'jobs':>5} {'per-job/s':>10} {'min/s':>7} {'eff':>5} {'events/s':>9} "
        f"{'server/s':>9} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'queue':>7} "
        f"{'compute':>7} {'failed':>6} {'cpu':>5}"
    )
    lines = [header]
    lines.extend(
        f"{p.clients:>5d} {p.per_job_rate:>10.2f} {p.per_job_min_rate:>7.2f} "
        f"{p.efficiency:>5.2f} {p.events_per_s:>9.1f} {p.server_inferences_per_s:>9.1f} "
        f"{p.p50_us:>8.0f} {p.p90_us:>8.0f} {p.p99_us:>8.0f} {p.server_queue_us:>7.0f} "
        f"{p.server_compute_us:>7.0f} {p.failures:>6d} {p.client_cpu:>5.2f}"
        for p in result.points
    )
    opts = result.options
    threshold = f"{opts.saturation_threshold:.0%} of {opts.event_rate:g} events/s per job"
    if result.saturation_clients is None:
        lines.append(
            f"not saturated up to {result.points[-1].clients} jobs (threshold {threshold})"
        )
    else:
        best = max(result.points, key=lambda p: p.events_per_s)
        lines.append(
            f"saturation at {result.saturation_clients} jobs (per-job rate below {threshold}); "
            f"peak {best.events_per_s:.1f} events/s with {best.clients} jobs"
        )
    lines.append(
        f"failed requests below saturation: {result.failures_below_saturation}, "
        f"in all: {sum(p.failures for p in result.points)}"
    )
    return "\n".join(lines)


def plot_scan(result: ScanResult, path: Path, title: str = "") -> None:
    """Throughput and latency against the number of jobs (two panels, log2 x axis)."""
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        from hepinfer.errors import MissingDependencyError

        package = "matplotlib"
        raise MissingDependencyError(package, "bench", "the scan plot") from exc
    pts = result.points
    n = np.array([p.clients for p in pts], dtype=np.float64)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(n, n * result.options.event_rate, "k--", lw=1, label="ideal (jobs x target rate)")
    ax1.plot(n, [p.events_per_s for p in pts], "o-", label="events/s (all jobs)")
    ax1.plot(n, [p.server_inferences_per_s for p in pts], "s:", label="server inferences/s")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("simulated client jobs")
    ax1.set_ylabel("throughput [1/s]")
    ax1.legend(fontsize=8)
    for q, attr in (("p50", "p50_us"), ("p90", "p90_us"), ("p99", "p99_us")):
        ax2.plot(n, [getattr(p, attr) / 1e3 for p in pts], "o-", label=f"{q} latency")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("simulated client jobs")
    ax2.set_ylabel("latency [ms]")
    ax2.legend(fontsize=8)
    if result.saturation_clients is not None:
        for ax in (ax1, ax2):
            ax.axvline(result.saturation_clients, color="r", lw=1, alpha=0.6)
            ax.text(
                result.saturation_clients,
                ax.get_ylim()[0],
                " saturation",
                color="r",
                fontsize=8,
                va="bottom",
            )
    for ax in (ax1, ax2):
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title or f"scaling scan, {result.options.event_rate:g} events/s per job")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_clients(text: str) -> tuple[int, ...]:
    """``1,2,4`` or ``1:512`` (powers of two from START to END)."""
    try:
        if ":" in text:
            lo, hi = (int(v) for v in text.split(":"))
            values: Sequence[int] = [2**i for i in range(64) if lo <= 2**i <= hi]
        else:
            values = [int(v) for v in text.split(",") if v]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        msg = f"--clients {text!r} is not 'N1,N2,...' or 'START:END' (powers of two)"
        raise BenchError(msg)
    return tuple(values)
