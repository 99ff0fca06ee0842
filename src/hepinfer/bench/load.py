"""perf_analyzer's load modes on asyncio: a fixed concurrency, or a request rate.

- Concurrency mode: N coroutines, each sending its next request as soon as the last is
  answered (always N requests in flight).
- Request-rate mode: requests start on a schedule, constant (1/rate apart) or Poisson
  (exponential gaps), whether or not earlier ones have been answered.

The load runs without pause while measurement windows of `measurement_interval_s` follow
each other, until the last 3 agree within `stability_percentage` % (throughput and average
latency) or `max_trials` windows have passed; the last 3 windows are merged into the result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from hepinfer.bench.measure import Measurement, Window, is_stable, summarize
from hepinfer.bench.target import Sample, Target
from hepinfer.errors import BenchError

log = logging.getLogger(__name__)

DISTRIBUTIONS = ("constant", "poisson")


@dataclass(frozen=True)
class LoadOptions:
    """How long and how often to measure (perf_analyzer's -p, -s, --max-trials)."""

    measurement_interval_s: float = 5.0
    stability_percentage: float = 10.0
    max_trials: int = 10
    #: request-rate mode: constant or poisson gaps between requests
    distribution: str = "constant"
    #: request-rate mode: the most requests in flight before the schedule waits
    max_in_flight: int = 4096
    seed: int = 0

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
    """Runs requests in the background and keeps every finished Sample."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.samples: list[Sample] = []
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

    def start_concurrency(self, concurrency: int) -> None:
        for _ in range(concurrency):
            self._spawn(self._worker())

    def start_rate(self, rate: float, options: LoadOptions) -> None:
        self._spawn(self._scheduler(rate, options))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.add(asyncio.ensure_future(coro))

    async def stop(self) -> None:
        """Let requests in flight finish, then stop."""
        self._stop = True
        if self._tasks:
            await asyncio.gather(*self._tasks)


async def measure(
    target: Target,
    start: Callable[[_Load], None],
    *,
    mode: str,
    setting: float,
    options: LoadOptions,
) -> Measurement:
    """Run the load until the windows are stable (or max_trials) and summarize them."""
    load = _Load(target)
    start(load)
    windows: list[Window] = []
    stable = False
    try:
        for _ in range(options.max_trials):
            before = await target.counters()
            first = len(load.samples)
            t0 = time.perf_counter()
            await asyncio.sleep(options.measurement_interval_s)
            last = len(load.samples)
            t1 = time.perf_counter()
            after = await target.counters()
            windows.append(Window(t1 - t0, tuple(load.samples[first:last]), after - before))
            if is_stable(windows, options.stability_percentage, target.batch_size):
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
    return summarize(
        windows[-3:],
        mode=mode,
        setting=setting,
        batch_size=target.batch_size,
        trials=len(windows),
        stable=stable,
    )


async def concurrency_sweep(
    target: Target, levels: Sequence[float], options: LoadOptions
) -> list[Measurement]:
    """One Measurement per concurrency level (perf_analyzer --concurrency-range)."""
    results = []
    for level in levels:
        n = int(level)
        if n != level or n < 1:
            msg = f"concurrency {level} must be a positive integer"
            raise BenchError(msg)
        m = await measure(
            target,
            partial(_Load.start_concurrency, concurrency=n),
            mode="concurrency",
            setting=n,
            options=options,
        )
        log.info("concurrency %d: %.1f infer/s, p99 %.0f us", n, m.inferences_per_s, m.p99_us)
        results.append(m)
    return results


async def rate_sweep(
    target: Target, rates: Sequence[float], options: LoadOptions
) -> list[Measurement]:
    """One Measurement per request rate (perf_analyzer --request-rate-range)."""
    results = []
    for rate in rates:
        m = await measure(
            target,
            partial(_Load.start_rate, rate=rate, options=options),
            mode="request_rate",
            setting=rate,
            options=options,
        )
        log.info("rate %g/s: %.1f infer/s, p99 %.0f us", rate, m.inferences_per_s, m.p99_us)
        results.append(m)
    return results
