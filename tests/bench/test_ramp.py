"""The load ramp (`hepinfer.bench.ramp`) against a real server: stages, counts, failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hepinfer.bench.ramp import RampResult, Stage, run_ramp
from hepinfer.bench.target import Target
from hepinfer.errors import BenchError
from hepinfer.serve import InferenceServer
from tests.bench.conftest import start_server


def _ramp(url: str, model: str, stages: list[Stage]) -> tuple[RampResult, int]:
    async def go() -> tuple[RampResult, int]:
        async with Target(url, model, timeout_s=10.0) as target:
            before = await target.counters()
            result = await run_ramp(target, stages)
            after = await target.counters()
        return result, (after - before).success_count

    return asyncio.run(go())


def test_ramp_counts_every_request_the_server_answered(server: InferenceServer) -> None:
    stages = [Stage(0.6, 1), Stage(0.6, 4), Stage(0.8, 0), Stage(0.5, 2)]
    result, served = _ramp(server.grpc_url, "fast", stages)
    assert result.failures == 0
    assert result.requests == served > 20
    seconds = result.per_second()
    assert len(seconds) == 3  # 2.5 s of stages
    assert sum(s.ok for s in seconds) == result.requests
    assert [result.concurrency_at(t) for t in (0.1, 0.7, 1.5, 2.2, 9.0)] == [1, 4, 0, 2, 2]
    # nothing is sent during the concurrency-0 stage (requests in flight at its start end)
    idle = result.ends_s[(result.ends_s > 1.4) & (result.ends_s < 1.9)]
    assert idle.size == 0
    assert (result.latencies_us > 0).all()


def test_ramp_reports_failed_requests(model_repo: Path) -> None:
    """A server that goes away mid-ramp: its requests are counted as failed, not lost."""
    other = start_server(model_repo)

    async def go() -> RampResult:
        async with Target(other.grpc_url, "fast", timeout_s=2.0) as target:
            task = asyncio.create_task(run_ramp(target, [Stage(2.0, 2)]))
            await asyncio.sleep(0.5)
            await asyncio.get_running_loop().run_in_executor(None, other.stop_thread)
            return await task

    result = asyncio.run(go())
    assert result.failures > 0
    assert result.requests > result.failures
    assert sum(s.failed for s in result.per_second()) == result.failures


def test_stages_are_validated() -> None:
    with pytest.raises(BenchError, match="must be positive"):
        Stage(0, 1)
    with pytest.raises(BenchError, match="0 or more"):
        Stage(1, -1)
    with pytest.raises(BenchError, match="at least one stage"):
        asyncio.run(run_ramp(None, []))  # type: ignore[arg-type]
