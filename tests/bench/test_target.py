"""Target: model interface from the server, random inputs, timed requests, statistics."""

from __future__ import annotations

import asyncio

import pytest

from hepinfer.bench.target import ServerCounters, Target, parse_shapes
from hepinfer.errors import BenchError
from hepinfer.serve import InferenceServer


def test_parse_shapes() -> None:
    assert parse_shapes(["A:3", "x:y:2,5"]) == {"A": (3,), "x:y": (2, 5)}
    for bad in ("A", ":3", "A:3,x", "A:-1"):
        with pytest.raises(BenchError, match="NAME:d1,d2"):
            parse_shapes([bad])


def test_bad_address_and_batch() -> None:
    with pytest.raises(BenchError, match="is not 'host:port'"):
        Target("localhost", "m")
    with pytest.raises(BenchError, match="at least 1"):
        Target("127.0.0.1:1", "m", batch_size=0)


def _connect(target: Target) -> object:
    async def go() -> object:
        try:
            return await target.connect()
        finally:
            await target.close()

    return asyncio.run(go())


def test_unknown_model_names_the_models(server: InferenceServer) -> None:
    with pytest.raises(BenchError, match=r"has no model 'nope'.*its models: .*fast"):
        _connect(Target(server.grpc_url, "nope"))


def test_variable_dims_need_shape(server: InferenceServer) -> None:
    with pytest.raises(BenchError, match=r"--shape A:N"):
        _connect(Target(server.grpc_url, "ints"))
    with pytest.raises(BenchError, match="does not fit"):
        _connect(Target(server.grpc_url, "ints", shapes={"A": (3, 2), "B": (3,)}))
    with pytest.raises(BenchError, match="unknown input"):
        _connect(Target(server.grpc_url, "ints", shapes={"C": (3,)}))
    with pytest.raises(BenchError, match="does not batch"):
        _connect(Target(server.grpc_url, "ints", batch_size=2, shapes={"A": (3,), "B": (3,)}))
    with pytest.raises(BenchError, match="above model 'fast'"):
        _connect(Target(server.grpc_url, "fast", batch_size=9))


def test_infer_and_counters(server: InferenceServer) -> None:
    async def go() -> tuple[list[bool], ServerCounters]:
        async with Target(server.grpc_url, "ints", shapes={"A": (5,), "B": (5,)}) as target:
            before = await target.counters()
            samples = [await target.infer() for _ in range(5)]
            delta = await target.counters() - before
        assert all(s.latency_ns >= s.send_ns + s.recv_ns > 0 for s in samples)
        return [s.ok for s in samples], delta

    oks, delta = asyncio.run(go())
    assert oks == [True] * 5
    assert delta.success_count == 5
    assert delta.infer_count == 5
    assert delta.infer_ns > 0
