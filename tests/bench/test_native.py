"""The native request loop (gRPC C++) against a real server: timing, cycling, failures."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from hepinfer.bench import LoadOptions, Target, concurrency_sweep
from hepinfer.bench.native import NativeLoop, native_available
from hepinfer.client.wire import RequestEncoder
from hepinfer.errors import BenchError
from hepinfer.serve import InferenceServer

pytestmark = pytest.mark.skipif(not native_available(), reason="no g++/libgrpc++-dev here")

_INFER = "/inference.GRPCInferenceService/ModelInfer"


def _payloads(model: str, values: list[float]) -> list[bytes]:
    encoder = RequestEncoder(model, "", [("INPUT0", "FP32")], ["OUTPUT0"])
    return [encoder.encode([(1, 4)], [np.full((1, 4), v, "<f4").tobytes()]) for v in values]


def _run(loop: NativeLoop, concurrency: int, seconds: float) -> tuple[np.ndarray, ...]:
    loop.start(concurrency)
    time.sleep(seconds)
    loop.stop()
    f = loop.take()
    return f.start, f.end, f.ok, f.payload


def test_keeps_calls_in_flight_and_cycles_payloads(server: InferenceServer) -> None:
    loop = NativeLoop(server.grpc_url, _INFER, _payloads("fast", [1, 2, 3]), timeout_s=10)
    try:
        start, end, ok, payload = _run(loop, 4, 0.5)
    finally:
        loop.close()
    assert len(start) > 20
    assert ok.all()
    assert (end > start).all()
    assert set(payload.tolist()) == {0, 1, 2}
    # at most 4 calls overlap at any time (and more than one does)
    events = sorted([(t, 1) for t in start] + [(t, -1) for t in end], key=lambda e: (e[0], e[1]))
    depth = np.cumsum([d for _, d in events])
    assert 1 < depth.max() <= 4


def test_failed_calls_are_counted_with_their_error(server: InferenceServer) -> None:
    loop = NativeLoop(server.grpc_url, _INFER, _payloads("nope", [1]), timeout_s=10)
    try:
        _, _, ok, _ = _run(loop, 2, 0.2)
        assert len(ok) > 0
        assert not ok.any()
        assert "nope" in loop.last_error()
    finally:
        loop.close()


def test_unreachable_and_misuse() -> None:
    with pytest.raises(BenchError, match=r"no connection to 127\.0\.0\.1:1"):
        NativeLoop("127.0.0.1:1", _INFER, [b""], timeout_s=1)


def test_start_twice_is_refused(server: InferenceServer) -> None:
    loop = NativeLoop(server.grpc_url, _INFER, _payloads("fast", [1]), timeout_s=10)
    try:
        loop.start(1)
        with pytest.raises(BenchError, match="cannot start 1 calls"):
            loop.start(1)
    finally:
        loop.close()


@pytest.mark.parametrize("engine", ["native", "python"])
def test_engines_measure_alike(server: InferenceServer, engine: str) -> None:
    lines: list[str] = []

    async def go() -> None:
        options = LoadOptions(
            measurement_interval_s=0.3, max_trials=3, stability_percentage=1000, engine=engine
        )
        async with Target(server.grpc_url, "fast", batch_size=2) as target:
            (m,) = await concurrency_sweep(target, [3], options, lines.append)
        assert m.failures == 0
        assert m.requests > 0
        assert m.inferences_per_s == pytest.approx(2 * m.requests_per_s)
        assert 0 < m.p50_us <= m.p99_us
        assert m.server_inferences_per_s > 0

    asyncio.run(go())
    assert sum(line.startswith("  Pass [") for line in lines) == 3
