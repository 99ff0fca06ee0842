"""A load ramp: closed-loop concurrency changing over time, counted per second.

`run_ramp` keeps `concurrency` requests in flight against a `Target` during each stage (a
request is sent as soon as the previous one of its worker answered), moves to the next stage
on time, and records every finished request. `per_second` bins them: requests answered,
failed, and latency percentiles per second of the run. It is the load an autoscaler sees
when client jobs arrive and leave.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hepinfer.bench.target import Sample, Target
from hepinfer.errors import BenchError


@dataclass(frozen=True, slots=True)
class Stage:
    """`concurrency` requests in flight for `seconds`."""

    seconds: float
    concurrency: int

    def __post_init__(self) -> None:
        if not self.seconds > 0 or self.concurrency < 0:
            msg = (
                f"ramp stage of {self.seconds} s at concurrency {self.concurrency}: the time "
                "must be positive and the concurrency 0 or more"
            )
            raise BenchError(msg)


@dataclass(frozen=True, slots=True)
class RampSecond:
    """One second of the ramp: requests answered and failed, latencies in µs."""

    time_s: float
    concurrency: int
    ok: int
    failed: int
    p50_us: float
    p99_us: float


@dataclass(frozen=True, slots=True)
class RampResult:
    """Every finished request (end time in s since the start, latency in µs, ok)."""

    ends_s: np.ndarray
    latencies_us: np.ndarray
    ok: np.ndarray
    stages: tuple[Stage, ...]

    @property
    def failures(self) -> int:
        """Failed requests in the whole ramp."""
        return int((~self.ok).sum())

    @property
    def requests(self) -> int:
        """Finished requests in the whole ramp."""
        return int(self.ok.size)

    def concurrency_at(self, t: float) -> int:
        """The stage's concurrency at `t` seconds."""
        start = 0.0
        for stage in self.stages:
            if t < start + stage.seconds:
                return stage.concurrency
            start += stage.seconds
        return self.stages[-1].concurrency

    def per_second(self) -> list[RampSecond]:
        """Requests and latencies binned by the second they finished in (every request)."""
        bins = int(np.ceil(sum(s.seconds for s in self.stages)))
        if self.ends_s.size:  # requests in flight at the end finish after the last stage
            bins = max(bins, int(self.ends_s.max()) + 1)
        out = []
        for second in range(bins):
            inside = (self.ends_s >= second) & (self.ends_s < second + 1)
            good = self.latencies_us[inside & self.ok]
            p50, p99 = (
                (float(np.percentile(good, 50)), float(np.percentile(good, 99)))
                if good.size
                else (0.0, 0.0)
            )
            failed = int((inside & ~self.ok).sum())
            conc = self.concurrency_at(second + 0.5)
            out.append(RampSecond(float(second), conc, int(good.size), failed, p50, p99))
        return out


async def run_ramp(target: Target, stages: Sequence[Stage]) -> RampResult:
    """Drive `target` (connected) through `stages`; every request finished is recorded."""
    if not stages:
        msg = "a load ramp needs at least one stage"
        raise BenchError(msg)
    samples: list[Sample] = []
    active = 0
    stopping = False
    wake = asyncio.Event()
    t0_ns = time.perf_counter_ns()

    async def worker(index: int) -> None:
        while True:
            while index >= active:
                if stopping:
                    return
                wake.clear()
                await wake.wait()
            samples.append(await target.infer())

    workers = [asyncio.create_task(worker(i)) for i in range(max(s.concurrency for s in stages))]
    try:
        for stage in stages:
            active = stage.concurrency
            wake.set()
            await asyncio.sleep(stage.seconds)
    finally:
        # the requests in flight finish and are counted; then every worker returns
        active, stopping = 0, True
        wake.set()
        await asyncio.gather(*workers, return_exceptions=True)
    done = [s for s in samples if s.end_ns >= t0_ns]
    return RampResult(
        ends_s=np.array([(s.end_ns - t0_ns) / 1e9 for s in done], dtype=np.float64),
        latencies_us=np.array([s.latency_ns / 1e3 for s in done], dtype=np.float64),
        ok=np.array([s.ok for s in done], dtype=bool),
        stages=tuple(stages),
    )
