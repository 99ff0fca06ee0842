"""use_shared_memory: inputs through registered POSIX shared memory to a local server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb

from hepinfer.client import ClientOptions, Mode, SonicClient
from hepinfer.serve import InferenceServer, ServerOptions


@pytest.fixture(scope="module")
def shm_server(model_repo: Path) -> Iterator[InferenceServer]:
    options = ServerOptions(
        [model_repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        enable_shm=True,
        exit_on_error=False,
    )
    with InferenceServer(options) as srv:
        yield srv


def _regions(client: SonicClient) -> list[str]:
    stub = client.pool.connections[0].stub
    status = stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest())
    return sorted(status.regions)


@pytest.mark.parametrize(
    ("mode", "streaming"),
    [(Mode.SYNC, False), (Mode.ASYNC, False), (Mode.PSEUDO_ASYNC, False), (Mode.ASYNC, True)],
)
def test_inputs_through_shared_memory(
    shm_server: InferenceServer, mode: Mode, streaming: bool
) -> None:
    opts = ClientOptions(
        "scale",
        servers=(shm_server.grpc_url,),
        mode=mode,
        streaming=streaming,
        use_shared_memory=True,
    )
    rng = np.random.default_rng(0)
    events = [rng.normal(size=(n, 4)).astype(np.float32) for n in (1, 8, 3, 20, 5)]
    with SonicClient(opts) as client:
        handles = [client.acquire({"INPUT0": x}) for x in events]
        for x, handle in zip(events, handles, strict=True):
            np.testing.assert_allclose(client.produce(handle)["OUTPUT0"], 2 * x, rtol=1e-6)
        regions = _regions(client)
        assert regions, "no shared-memory region was registered"
        assert all(r.startswith("hepinfer_") for r in regions)
        # slots are reused: at most one per request in flight
        assert len(regions) <= client.stats().requests
    # after close the client's regions are unregistered
    with SonicClient(ClientOptions("scale", servers=(shm_server.grpc_url,))) as other:
        assert not [r for r in _regions(other) if r in regions]


def test_server_without_shared_memory_gets_raw_tensors(server: InferenceServer) -> None:
    opts = ClientOptions("scale", servers=(server.grpc_url,), use_shared_memory=True)
    with SonicClient(opts) as client:
        x = np.ones((3, 4), np.float32)
        np.testing.assert_array_equal(client.infer({"INPUT0": x})["OUTPUT0"], 2 * x)
        assert not client.pool.connections[0].shm_possible
        np.testing.assert_array_equal(client.infer({"INPUT0": x})["OUTPUT1"], x + 1)
