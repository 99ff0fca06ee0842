"""The autoscaler for real: replica processes behind nginx, a load ramp, a scale-up and a
drained scale-down, and not one failed request.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from hepinfer.errors import ServeError
from hepinfer.serve.autoscale import ScalePolicy
from hepinfer.serve.balancer import BalancerConfig, NginxBalancer, find_nginx

try:
    find_nginx()
except ServeError:
    pytest.skip("nginx is not installed (`apt-get install nginx`)", allow_module_level=True)

import onnx
from onnx import TensorProto, helper, numpy_helper

from hepinfer.bench.ramp import RampResult, Stage, run_ramp
from hepinfer.bench.target import Target
from hepinfer.serve.scaler import AutoscaleOptions, Autoscaler, replica_timeline

WIDTH = 256
#: no dynamic batching, one instance: requests wait in the queue while one executes
CONFIG = f"""name: "slow"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [{{ name: "X" data_type: TYPE_FP32 dims: [{WIDTH}] }}]
output [{{ name: "Y" data_type: TYPE_FP32 dims: [{WIDTH}] }}]
instance_group [{{ count: 1 kind: KIND_CPU }}]
"""


def _slow_repository(root: Path, layers: int = 8) -> Path:
    """A chain of WIDTH x WIDTH MatMul + Tanh: a few hundred µs per request on one core."""
    rng = np.random.default_rng(0)
    nodes, inits, name = [], [], "X"
    for i in range(layers):
        w = (rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [name, f"w{i}"], [f"m{i}"]))
        name = "Y" if i == layers - 1 else f"t{i}"
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [name]))
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", WIDTH])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", WIDTH])
    model = helper.make_model(
        helper.make_graph(nodes, "slow", [x], [y], inits),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 10
    (root / "slow" / "1").mkdir(parents=True)
    onnx.save(model, str(root / "slow" / "1" / "model.onnx"))
    (root / "slow" / "config.pbtxt").write_text(CONFIG)
    return root


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
        repositories=(_slow_repository(tmp_path / "repo"),),
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
    busy = [e.queue_ms for e in events if e.replicas == 1 and e.queue_ms is not None]
    assert max(busy) > policy.threshold_ms
