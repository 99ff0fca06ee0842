"""perf_analyzer's load modes: a fixed concurrency, or a request rate.

- Concurrency mode: N coroutines, each sending its next request as soon as the last is
  answered (always N requests in flight).
- Request-rate mode: requests start on a schedule, constant (1/rate apart) or Poisson
  (exponential gaps), whether or not earlier ones have been answered.

The load runs without pause while measurement windows of `measurement_interval_s` follow
each other, until the last 3 agree within `stability_percentage` % (throughput and average
latency, or the --percentile latency) or `max_trials` windows have passed; the last 3 windows
are merged into the result. Windows last `measurement_interval_s` (time_windows) or until
`measurement_request_count` requests have finished (count_windows). A live line per window
and a summary per setting go to the `report` callback, as perf_analyzer prints them.

Concurrency mode over plain gRPC runs on the native request loop (`hepinfer.bench.native`,
gRPC C++) where it can be built; HTTP, TLS and request-rate mode run on asyncio.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepinfer.bench.measure import Measurement, Window, is_stable, summarize
from hepinfer.bench.native import NativeLoop, load_library, native_available
from hepinfer.bench.target import Sample, Target
from hepinfer.errors import BenchError

log = logging.getLogger(__name__)

DISTRIBUTIONS = ("constant", "poisson")
MEASUREMENT_MODES = ("time_windows", "count_windows")
ENGINES = ("auto", "native", "python")
#: how often a count window checks its request count
_POLL_S = 0.005


@dataclass(frozen=True)
class LoadOptions:
    """How long and how often to measure (perf_analyzer's -p, -s, -r, --percentile,
    --measurement-mode, --measurement-request-count) and which request loop sends the load.
    """

    measurement_interval_s: float = 5.0
    stability_percentage: float = 10.0
    max_trials: int = 10
    #: request-rate mode: constant or poisson gaps between requests
    distribution: str = "constant"
    #: request-rate mode: the most requests in flight before the schedule waits
    max_in_flight: int = 4096
    seed: int = 0
    #: time_windows: windows of measurement_interval_s; count_windows: windows of at least
    #: measurement_request_count requests
    measurement_mode: str = "time_windows"
    measurement_request_count: int = 50
    #: latency percentile used for stability and reported (None: the average, as
    #: perf_analyzer's default --percentile=-1)
    percentile: int | None = None
    #: request loop: native (gRPC C++), python (asyncio), auto (native where it can run)
    engine: str = "auto"
    #: completion-queue threads of the native loop
    threads: int = 1

    def __post_init__(self) -> None:
        if self.measurement_interval_s <= 0:
            msg = f"measurement interval {self.measurement_interval_s} s must be positive"
            raise BenchError(msg)
        if not self.stability_percentage > 0:
            msg = f"stability percentage {self.stability_percentage} must be positive"
            raise BenchError(msg)
        if self.max_trials < 1:
            msg = f"max trials {self.max_trials} must be at least 1"
            raise BenchError(msg)
        if self.distribution not in DISTRIBUTIONS:
            msg = (
                f"request distribution {self.distribution!r} is not one of "
                f"{', '.join(DISTRIBUTIONS)}"
            )
            raise BenchError(msg)
        if self.max_in_flight < 1:
            msg = f"max in flight {self.max_in_flight} must be at least 1"
            raise BenchError(msg)
        if self.measurement_mode not in MEASUREMENT_MODES:
            msg = (
                f"--measurement-mode {self.measurement_mode!r} is not one of "
                f"{', '.join(MEASUREMENT_MODES)}"
            )
            raise BenchError(msg)
        if self.measurement_request_count < 1:
            msg = f"--measurement-request-count {self.measurement_request_count} must be at least 1"
            raise BenchError(msg)
        if self.percentile is not None and not 1 <= self.percentile <= 99:
            msg = (
                f"--percentile {self.percentile} must be an integer from 1 to 99 (or -1: "
                "stabilise on the average latency)"
            )
            raise BenchError(msg)
        if self.engine not in ENGINES:
            msg = f"--engine {self.engine!r} is not one of {', '.join(ENGINES)}"
            raise BenchError(msg)
        if self.threads < 1:
            msg = f"--threads {self.threads} must be at least 1"
            raise BenchError(msg)


def parse_range(text: str, what: str) -> list[float]:
    """perf_analyzer's ``START[:END[:STEP]]`` (inclusive; STEP defaults to 1)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if not 1 <= len(values) <= 3 or len(values) != len(parts):
        msg = f"{what} {text!r} is not START[:END[:STEP]] with numbers"
        raise BenchError(msg)
    start = values[0]
    end = values[1] if len(values) > 1 else start
    step = values[2] if len(values) > 2 else 1.0
    if start <= 0 or end < start or step <= 0:
        msg = f"{what} {text!r} needs 0 < START <= END and STEP > 0"
        raise BenchError(msg)
    count = int(np.floor((end - start) / step + 1e-9)) + 1
    return [start + i * step for i in range(count)]


class _Load:
    """Runs requests in the background (asyncio) and keeps every finished Sample."""

    engine = "python"

    def __init__(self, target: Target) -> None:
        self.target = target
        self.samples: list[Sample] = []
        self._taken = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = False

    async def _worker(self) -> None:
        while not self._stop:
            self.samples.append(await self.target.infer())

    async def _one(self) -> None:
        self.samples.append(await self.target.infer())

    async def _scheduler(self, rate: float, options: LoadOptions) -> None:
        rng = np.random.default_rng(options.seed)
        poisson = options.distribution == "poisson"
        in_flight: set[asyncio.Task[None]] = set()
        next_t = time.perf_counter()
        while not self._stop:
            delay = next_t - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            while len(in_flight) >= options.max_in_flight:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(self._one())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            next_t += rng.exponential(1.0 / rate) if poisson else 1.0 / rate
        if in_flight:
            await asyncio.wait(in_flight)

    async def start_concurrency(self, concurrency: int) -> None:
        for _ in range(concurrency):
            self._spawn(self._worker())

    async def start_rate(self, rate: float, options: LoadOptions) -> None:
        self._spawn(self._scheduler(rate, options))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.add(asyncio.ensure_future(coro))

    def collect(self) -> list[Sample]:
        """The samples finished since the last collect."""
        new = self.samples[self._taken :]
        self._taken = len(self.samples)
        return new

    async def stop(self) -> None:
        """Let requests in flight finish, then stop."""
        self._stop = True
        if self._tasks:
            await asyncio.gather(*self._tasks)


class _NativeLoad:
    """The same interface over the native gRPC C++ loop (concurrency mode only)."""

    engine = "native"

    def __init__(self, target: Target, threads: int) -> None:
        self.target = target
        self.threads = threads
        self.loop: NativeLoop | None = None

    async def start_concurrency(self, concurrency: int) -> None:
        self.loop = await asyncio.to_thread(self.target.native_loop)
        self.loop.start(concurrency, self.threads)

    def collect(self) -> list[Sample]:
        """The samples finished since the last collect."""
        if self.loop is None:
            return []
        f = self.loop.take()
        columns = (f.start.tolist(), f.end.tolist(), f.send.tolist(), f.recv.tolist())
        oks = f.ok.tolist()
        return [
            Sample(t0, t1, send, recv, ok == 1)
            for t0, t1, send, recv, ok in zip(*columns, oks, strict=True)
        ]

    async def stop(self) -> None:
        """Stop sending; wait for the calls in flight; free the channel."""
        if self.loop is not None:
            loop, self.loop = self.loop, None
            await asyncio.to_thread(loop.stop)
            error = loop.last_error()
            loop.close()
            if error:
                log.info("native loop: last failed call: %s", error)


_AnyLoad = _Load | _NativeLoad
#: receives each live line (perf_analyzer's progress output)
Reporter = Callable[[str], None]


def choose_engine(target: Target, options: LoadOptions, mode: str) -> str:
    """The request loop that runs: native where asked or (auto) where it can, else python."""
    native_ok = mode == "concurrency" and target.protocol == "grpc" and target.tls is None
    if options.engine == "native":
        if not native_ok:
            msg = (
                "--engine native runs concurrency mode over plain gRPC only (not -i http, "
                "--request-rate-range or --ssl-grpc-use-ssl); use --engine python or auto"
            )
            raise BenchError(msg)
        if not native_available():
            load_library()  # raises the BenchError that says what is missing
        return "native"
    if options.engine == "auto" and native_ok and native_available():
        return "native"
    return "python"


def settings_lines(target: Target, options: LoadOptions, engine: str) -> list[str]:
    """perf_analyzer's ``*** Measurement Settings ***`` block."""
    if options.measurement_mode == "time_windows":
        window = f"  Measurement window: {options.measurement_interval_s * 1000:g} msec"
    else:
        window = f"  Minimum requests per window: {options.measurement_request_count}"
    loop = "native gRPC C++ request loop" if engine == "native" else "asyncio request loop"
    shm = f", system shared memory {target.shm_region}" if target.shm_region else ""
    latency = "average" if options.percentile is None else f"p{options.percentile}"
    rule = f"±{options.stability_percentage:g} %, at most {options.max_trials} windows"
    return [
        "*** Measurement Settings ***",
        f"  Batch size: {target.batch_size}",
        f"  Service Kind: Triton ({target.protocol} to {target.url}, {loop}{shm})",
        f"  Input data: {target.input_data} ({len(target.payloads)} prepared requests)",
        f'  Using "{options.measurement_mode}" mode for stabilization',
        window,
        f"  Stabilizing using {latency} latency ({rule})",
        "",
    ]


def _latency_label(options: LoadOptions) -> str:
    return "Avg" if options.percentile is None else f"p{options.percentile}"


def window_line(n: int, window: Window, batch_size: int, options: LoadOptions) -> str:
    """perf_analyzer's ``Pass [n] throughput: ... infer/sec. Avg latency: ... usec``."""
    ok = np.array([s.latency_ns for s in window.samples if s.ok], dtype=np.float64) / 1e3
    throughput = len(ok) * batch_size / window.duration_s if window.duration_s > 0 else 0.0
    failed = len(window.samples) - len(ok)
    tail = f", {failed} failed" if failed else ""
    if not len(ok):
        return f"  Pass [{n}] throughput: 0 infer/sec. No request answered{tail}."
    if options.percentile is None:
        latency = f"Avg latency: {ok.mean():.0f} usec (std {ok.std():.0f} usec)"
    else:
        value = float(np.percentile(ok, options.percentile, method="inverted_cdf"))
        latency = f"p{options.percentile} latency: {value:.0f} usec"
    return f"  Pass [{n}] throughput: {throughput:.1f} infer/sec. {latency}{tail}."


def setting_lines(m: Measurement, options: LoadOptions) -> list[str]:
    """The per-setting summary perf_analyzer prints after the stable windows."""
    label = _latency_label(options)
    latency = m.avg_latency_us if m.percentile is None else m.percentile_us
    stable = "" if m.stable else " (not stable)"
    client = (
        f"  Client: request count {m.requests}, throughput {m.inferences_per_s:.1f} infer/sec, "
        f"{label} latency {latency:.0f} usec, p50 {m.p50_us:.0f}, p90 {m.p90_us:.0f}, "
        f"p95 {m.p95_us:.0f}, p99 {m.p99_us:.0f} usec{stable}"
    )
    server = (
        f"  Server: inference count {m.server_inferences_per_s * m.duration_s:.0f}, "
        f"queue {m.server_queue_us:.0f} usec, compute input {m.server_compute_input_us:.0f} "
        f"usec, infer {m.server_compute_infer_us:.0f} usec, output "
        f"{m.server_compute_output_us:.0f} usec"
    )
    return [client, server]


async def _window(load: _AnyLoad, options: LoadOptions) -> list[Sample]:
    """The samples of one measurement window (time or count)."""
    if options.measurement_mode == "time_windows":
        await asyncio.sleep(options.measurement_interval_s)
        return load.collect()
    samples: list[Sample] = []
    while len(samples) < options.measurement_request_count:
        await asyncio.sleep(_POLL_S)
        samples.extend(load.collect())
    return samples


async def measure(
    target: Target,
    start: Callable[[_AnyLoad], Awaitable[None]],
    *,
    mode: str,
    setting: float,
    options: LoadOptions,
    report: Reporter | None = None,
) -> Measurement:
    """Run the load until the windows are stable (or max_trials) and summarize them."""
    engine = choose_engine(target, options, mode)
    load: _AnyLoad = _NativeLoad(target, options.threads) if engine == "native" else _Load(target)
    windows: list[Window] = []
    stable = False
    try:
        await start(load)
        for trial in range(options.max_trials):
            before = await target.counters()
            load.collect()  # what finished before the window is not in it
            t0 = time.perf_counter()
            samples = await _window(load, options)
            t1 = time.perf_counter()
            after = await target.counters()
            windows.append(Window(t1 - t0, tuple(samples), after - before))
            if report is not None:
                report(window_line(trial + 1, windows[-1], target.batch_size, options))
            if is_stable(
                windows, options.stability_percentage, target.batch_size, options.percentile
            ):
                stable = True
                break
    finally:
        await load.stop()
    if not stable:
        log.warning(
            "%s %g: no stable measurement within %d trials (±%g %%); reporting the last 3 windows",
            mode,
            setting,
            options.max_trials,
            options.stability_percentage,
        )
    m = summarize(
        windows[-3:],
        mode=mode,
        setting=setting,
        batch_size=target.batch_size,
        trials=len(windows),
        stable=stable,
        percentile=options.percentile,
    )
    if report is not None:
        for line in setting_lines(m, options):
            report(line)
    return m


async def concurrency_sweep(
    target: Target,
    levels: Sequence[float],
    options: LoadOptions,
    report: Reporter | None = None,
) -> list[Measurement]:
    """One Measurement per concurrency level (perf_analyzer --concurrency-range)."""
    results = []
    for level in levels:
        n = int(level)
        if n != level or n < 1:
            msg = f"concurrency {level} must be a positive integer"
            raise BenchError(msg)
        if report is not None:
            report(f"Request concurrency: {n}")

        async def start(load: _AnyLoad, n: int = n) -> None:
            await load.start_concurrency(n)

        m = await measure(
            target, start, mode="concurrency", setting=n, options=options, report=report
        )
        log.info("concurrency %d: %.1f infer/s, p99 %.0f us", n, m.inferences_per_s, m.p99_us)
        results.append(m)
    return results


async def rate_sweep(
    target: Target,
    rates: Sequence[float],
    options: LoadOptions,
    report: Reporter | None = None,
) -> list[Measurement]:
    """One Measurement per request rate (perf_analyzer --request-rate-range)."""
    results = []
    for rate in rates:
        if report is not None:
            report(f"Request Rate: {rate:g} inference requests per seconds")

        async def start(load: _AnyLoad, rate: float = rate) -> None:
            if not isinstance(load, _Load):
                msg = "request-rate mode runs on the python engine"
                raise BenchError(msg)
            await load.start_rate(rate, options)

        m = await measure(
            target, start, mode="request_rate", setting=rate, options=options, report=report
        )
        log.info("rate %g/s: %.1f infer/s, p99 %.0f us", rate, m.inferences_per_s, m.p99_us)
        results.append(m)
    return results
