"""SonicClient against a real hepinfer server: modes, batching, validation, choice, fallback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from hepinfer.client import ClientOptions, FallbackOptions, Mode, SonicClient
from hepinfer.errors import ClientError
from hepinfer.serve import InferenceServer
from tests.client.conftest import start_server


def _x(n: int, width: int = 4) -> np.ndarray:
    return np.arange(n * width, dtype=np.float32).reshape(n, width) / 7


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("mode", list(Mode))
def test_modes_rectangular(server: InferenceServer, mode: Mode, streaming: bool) -> None:
    opts = ClientOptions(
        "scale", servers=(server.grpc_url,), mode=mode, streaming=streaming, health_interval_s=0
    )
    with SonicClient(opts) as client:
        assert client.model.max_batch_size == 8
        handles = [client.acquire({"INPUT0": _x(n)}) for n in range(1, 9)]
        for n, handle in enumerate(handles, start=1):
            out = client.produce(handle)
            np.testing.assert_array_equal(out["OUTPUT0"], 2 * _x(n))
            np.testing.assert_array_equal(out["OUTPUT1"], _x(n) + 1)
        stats = client.stats()
        assert stats.requests == 8
        assert stats.retries == stats.failures == 0
        assert stats.per_server == {server.grpc_url: 8}


def test_events_above_max_batch_are_split(server: InferenceServer) -> None:
    opts = ClientOptions("scale", servers=(server.grpc_url,), health_interval_s=0)
    with SonicClient(opts) as client:
        out = client.infer({"INPUT0": _x(19)})
        np.testing.assert_array_equal(out["OUTPUT0"], 2 * _x(19))
        assert client.stats().requests == 3  # 8 + 8 + 3


def test_fixed_batch_size_pads_and_trims(server: InferenceServer) -> None:
    opts = ClientOptions(
        "scale", servers=(server.grpc_url,), batch_size=4, outputs=("OUTPUT1",), health_interval_s=0
    )
    with SonicClient(opts) as client:
        out = client.infer({"INPUT0": _x(6)})
        assert list(out) == ["OUTPUT1"]
        np.testing.assert_array_equal(out["OUTPUT1"], _x(6) + 1)
        assert client.stats().requests == 2
        before = client.server_statistics()[server.grpc_url].inference_count
        client.infer({"INPUT0": _x(1)})
        after = client.server_statistics()[server.grpc_url].inference_count
        assert after - before == 4  # the padded batch ran


def test_empty_event_sends_nothing(server: InferenceServer) -> None:
    with SonicClient(ClientOptions("scale", servers=(server.grpc_url,))) as client:
        out = client.infer({"INPUT0": np.empty((0, 4), np.float32)})
        assert out["OUTPUT0"].shape == (0, 4)
        assert client.stats().requests == 0


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("mode", list(Mode))
def test_ragged_one_request_per_object(
    server: InferenceServer, mode: Mode, streaming: bool
) -> None:
    opts = ClientOptions("ints", servers=(server.grpc_url,), mode=mode, streaming=streaming)
    with SonicClient(opts) as client:
        assert not client.model.batching
        sizes = [1, 4, 0, 9]
        objs = [{"A": np.arange(n, dtype=np.int32), "B": np.full(n, 3, np.int32)} for n in sizes]
        results = client.produce(client.acquire_ragged(objs))
        assert client.stats().requests == len(sizes)
        for n, res in zip(sizes, results, strict=True):
            np.testing.assert_array_equal(res["SUM"], np.arange(n) + 3)
            np.testing.assert_array_equal(res["DIFF"], np.arange(n) - 3)


def test_ragged_on_a_batching_model_adds_and_removes_the_batch_dim(
    server: InferenceServer,
) -> None:
    with SonicClient(ClientOptions("scale", servers=(server.grpc_url,))) as client:
        objs = [{"INPUT0": _x(1)[0] + i} for i in range(3)]
        results = client.produce(client.acquire_ragged(objs))
        for i, res in enumerate(results):
            np.testing.assert_allclose(res["OUTPUT0"], 2 * (_x(1)[0] + i))


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_compression(server: InferenceServer, compression: str, streaming: bool) -> None:
    opts = ClientOptions(
        "scale", servers=(server.grpc_url,), compression=compression, streaming=streaming
    )
    with SonicClient(opts) as client:
        np.testing.assert_array_equal(client.infer({"INPUT0": _x(3)})["OUTPUT0"], 2 * _x(3))


def test_bytes_inputs(server: InferenceServer) -> None:
    with SonicClient(ClientOptions("strings", servers=(server.grpc_url,))) as client:
        text = np.array([[b"a", b"bc"], [b"", b"def"]], dtype=object)
        out = client.infer({"TEXT_IN": text})
        assert out["TEXT_OUT"].tolist() == text.tolist()


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ({}, "missing"),
        ({"INPUT0": np.zeros((2, 4)), "X": 1}, "unknown"),
        ({"INPUT0": np.zeros((2, 4))}, r"float64.*astype"),
        ({"INPUT0": np.zeros((2, 5), np.float32)}, "shape"),
        ({"INPUT0": np.zeros(4, np.float32)}, "shape"),
    ],
)
def test_bad_inputs_are_refused_before_sending(
    server: InferenceServer, inputs: dict[str, object], match: str
) -> None:
    with SonicClient(ClientOptions("scale", servers=(server.grpc_url,))) as client:
        with pytest.raises(ClientError, match=match):
            client.acquire(inputs)
        assert client.stats().requests == 0


def test_unknown_model_and_output(server: InferenceServer) -> None:
    with pytest.raises(ClientError, match="nope"):
        SonicClient(ClientOptions("nope", servers=(server.grpc_url,), allowed_tries=1))
    with pytest.raises(ClientError, match="no output"):
        SonicClient(ClientOptions("scale", servers=(server.grpc_url,), outputs=("Z",)))


def test_server_error_is_not_retried(server: InferenceServer) -> None:
    # versioned: version 1 is not loaded (policy: latest 2) -> NOT_FOUND-like, no retry
    opts = ClientOptions("versioned", servers=(server.grpc_url,), version="3")
    with SonicClient(opts) as client:
        client.options = ClientOptions("versioned", servers=(server.grpc_url,), version="1")
        client._encoder = type(client._encoder)("versioned", "1", [("INPUT0", "FP32")], ["OUTPUT0"])
        with pytest.raises(ClientError, match="cannot be retried"):
            client.infer({"INPUT0": _x(1)})
        stats = client.stats()
        assert (stats.retries, stats.failures) == (0, 1)


def test_dead_server_in_list_is_skipped(server: InferenceServer, dead_url: str) -> None:
    opts = ClientOptions("scale", servers=(dead_url, server.grpc_url), health_timeout_s=0.5)
    with SonicClient(opts) as client:
        for _ in range(5):
            client.infer({"INPUT0": _x(2)})
        assert client.stats().per_server == {dead_url: 0, server.grpc_url: 5}


def test_load_is_shared_between_equal_servers(model_repo: Path, server: InferenceServer) -> None:
    other = start_server(model_repo)
    try:
        opts = ClientOptions("scale", servers=(server.grpc_url, other.grpc_url), mode=Mode.ASYNC)
        with SonicClient(opts) as client:
            handles = [client.acquire({"INPUT0": _x(1)}) for _ in range(40)]
            for h in handles:
                h.result()
            per_server = client.stats().per_server
        assert sum(per_server.values()) == 40
        assert min(per_server.values()) >= 10, per_server
    finally:
        other.stop_thread()


def test_no_server_and_no_fallback(dead_url: str) -> None:
    with pytest.raises(ClientError, match=r"no server answers.*fallback"):
        SonicClient(ClientOptions("scale", servers=(dead_url,), health_timeout_s=0.3))


def test_fallback_starts_when_no_server_answers(model_repo: Path, dead_url: str) -> None:
    opts = ClientOptions(
        "scale",
        servers=(dead_url,),
        health_timeout_s=0.3,
        fallback=FallbackOptions((model_repo,)),
    )
    with SonicClient(opts) as client:
        out = client.infer({"INPUT0": _x(3)})
        np.testing.assert_array_equal(out["OUTPUT0"], 2 * _x(3))
        stats = client.stats()
        assert stats.fallback_started
        assert sum(stats.per_server.values()) == 1
        assert stats.per_server[dead_url] == 0


def test_failing_inference_is_retried_then_reported(server: InferenceServer) -> None:
    # A and B of different lengths: onnxruntime fails (INTERNAL) on every try
    opts = ClientOptions("ints", servers=(server.grpc_url,), allowed_tries=2)
    with SonicClient(opts) as client:
        with pytest.raises(ClientError, match=r"(?s)INTERNAL.*after 2 tries"):
            client.infer({"A": np.arange(3, dtype=np.int32), "B": np.arange(4, dtype=np.int32)})
        stats = client.stats()
        assert (stats.requests, stats.retries, stats.failures) == (1, 1, 1)
        # a failed handle keeps its error (no second round of tries)
        handle = client.acquire(
            {"A": np.arange(3, dtype=np.int32), "B": np.arange(4, dtype=np.int32)}
        )
        for _ in range(2):
            with pytest.raises(ClientError, match="after 2 tries"):
                client.produce(handle)
        assert client.stats().failures == 2
        assert client.pool.connections[0].in_flight == 0
        # the client keeps working
        out = client.infer({"A": np.arange(2, dtype=np.int32), "B": np.ones(2, np.int32)})
        np.testing.assert_array_equal(out["SUM"], [1, 2])


@pytest.mark.parametrize(
    ("mode", "streaming"),
    [(Mode.ASYNC, False), (Mode.ASYNC, True), (Mode.PSEUDO_ASYNC, False), (Mode.SYNC, False)],
)
def test_asyncio_api(server: InferenceServer, mode: Mode, streaming: bool) -> None:
    opts = ClientOptions("scale", servers=(server.grpc_url,), mode=mode, streaming=streaming)

    async def main(client: SonicClient) -> list[dict[str, np.ndarray]]:
        return await asyncio.gather(*(client.ainfer({"INPUT0": _x(n)}) for n in range(1, 21)))

    with SonicClient(opts) as client:
        results = asyncio.run(main(client))
        for n, out in enumerate(results, start=1):
            np.testing.assert_array_equal(out["OUTPUT0"], 2 * _x(n))
        assert client.stats().requests == sum(-(-n // 8) for n in range(1, 21))


def test_asyncio_failure_is_retried_then_raised(server: InferenceServer) -> None:
    opts = ClientOptions("ints", servers=(server.grpc_url,), allowed_tries=2)
    bad = {"A": np.arange(3, dtype=np.int32), "B": np.arange(4, dtype=np.int32)}
    with SonicClient(opts) as client:
        with pytest.raises(ClientError, match="after 2 tries"):
            asyncio.run(client.ainfer(bad))
        assert client.stats().retries == 1
