"""The autoscaler for real: replica processes behind nginx, a load ramp, a scale-up and a
drained scale-down, and not one failed request.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hepinfer.errors import ServeError
from hepinfer.serve.autoscale import ScalePolicy
from hepinfer.serve.balancer import BalancerConfig, NginxBalancer, find_nginx

try:
    find_nginx()
except ServeError:
    pytest.skip("nginx is not installed (`apt-get install nginx`)", allow_module_level=True)

from hepinfer.bench.ramp import RampResult, Stage, run_ramp
from hepinfer.bench.target import Target
from hepinfer.serve.scaler import AutoscaleOptions, Autoscaler, replica_timeline
from tests.serve.models import slow_repository


def test_reload_refuses_what_needs_a_restart(tmp_path: Path) -> None:
    lb = NginxBalancer(BalancerConfig(("127.0.0.1:9",), grpc_port=0), prefix=tmp_path / "lb")
    with pytest.raises(ServeError, match="not running"):
        lb.reload(BalancerConfig(("127.0.0.1:10",)))


def test_ramp_scales_up_and_drains_down_without_a_failure(tmp_path: Path) -> None:
    """c=8 on one replica queues far above the threshold: a second replica starts; back at
    c=1 the queue empties and the second replica is drained out of nginx and stopped, while
    the requests go on. Every request of the ramp answers.
    """
    policy = ScalePolicy(
        min_replicas=1,
        max_replicas=2,
        threshold_ms=1.0,
        window_s=3.0,
        up_stabilization_s=0.0,
        down_stabilization_s=3.0,
        cooldown_s=2.0,
    )
    options = AutoscaleOptions(
        # 64 layers: ~330 us per request on an idle core (8 layers took ~40 us, and c=8 then
        # queued under the 1 ms threshold on a fast machine), so c=8 queues ~2 ms anywhere
        repositories=(slow_repository(tmp_path / "repo", layers=64),),
        policy=policy,
        interval_s=0.5,
        grpc_port=0,
        model="slow",
    )
    with Autoscaler(options) as scaler:
        scaler.run_in_thread()

        async def load() -> RampResult:
            async with Target(scaler.grpc_url, "slow", timeout_s=30.0) as target:
                return await run_ramp(target, [Stage(2, 1), Stage(14, 8), Stage(14, 1)])

        result = asyncio.run(load())
        scaler.stop_thread()
        events = list(scaler.events)
    timeline = replica_timeline(events)
    reasons = "\n".join(f"{e.time_s:.1f} s {e.replicas}: {e.reason}" for e in events)
    assert result.failures == 0, reasons
    assert result.requests > 100
    counts = [n for _, n in timeline]
    assert counts[:3] == [1, 2, 1], reasons
    # the scale-up was decided on a queue time above the threshold, the scale-down below it
    up = next(e for e in events if e.replicas == 2)
    assert up.queue_ms is not None
    assert up.queue_ms > policy.threshold_ms * (1 + policy.tolerance), reasons
    down = next(e for e in events if e.time_s > up.time_s and e.replicas == 1)
    assert down.queue_ms is None or down.queue_ms < policy.threshold_ms, reasons
    assert down.applied_s >= down.time_s
