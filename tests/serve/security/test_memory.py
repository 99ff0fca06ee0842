"""A flood on one stream stays bounded: flow control holds at most a window of a stream's
requests in the server, and the memory budget refuses what would exceed it (issue 17).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions, register_backend
from tests.serve.native.conftest import require_native

WIDTH = 65_536  # float32: 256 KiB per request
REQUESTS = 400
WINDOW = 64  # requests of one stream read and not yet answered, at most (both front ends)
CONFIG = f"""
name: "big"
backend: "test_slow"
max_batch_size: 8
input [{{ name: "INPUT0" data_type: TYPE_FP32 dims: [{WIDTH}] }}]
output [{{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [{WIDTH}] }}]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
"""


class _SlowInstance:
    """Doubles its input, taking 10 ms a batch: a flood outruns it, so queues would grow."""

    def run(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],  # noqa: ARG002
    ) -> dict[str, np.ndarray]:
        time.sleep(0.01)
        return {"OUTPUT0": 2 * inputs["INPUT0"]}

    def close(self) -> None:
        pass


class _SlowBackend:
    platforms: tuple[str, ...] = ()
    default_filename = "model.slow"

    def load(self, path: Path, config: mc.ModelConfig) -> _SlowInstance:  # noqa: ARG002
        return _SlowInstance()

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:  # noqa: ARG002
        msg = "no auto-complete"
        raise ServeError(msg)


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    register_backend("test_slow", _SlowBackend())
    repo = tmp_path_factory.mktemp("repo")
    (repo / "big" / "1").mkdir(parents=True)
    (repo / "big" / "1" / "model.slow").write_text("")
    (repo / "big" / "config.pbtxt").write_text(CONFIG)
    return repo


@pytest.fixture(scope="module", params=["native", "aio"])
def flood_server(request: pytest.FixtureRequest, big_repo: Path) -> Iterator[InferenceServer]:
    if request.param == "native":
        require_native()
    options = ServerOptions(
        [big_repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        grpc_frontend=request.param,
        max_queued_bytes=16 * WIDTH * 4 * 8,  # 128 requests' worth
    )
    with InferenceServer(options) as srv:
        yield srv


def _flood(url: str, n: int) -> list[str]:
    answers: queue.Queue[str] = queue.Queue()

    def done(result: object, error: object) -> None:
        answers.put("OK" if error is None else str(error))

    client = grpcclient.InferenceServerClient(url)
    client.start_stream(callback=done)
    x = grpcclient.InferInput("INPUT0", [1, WIDTH], "FP32")
    x.set_data_from_numpy(np.ones((1, WIDTH), np.float32))
    for _ in range(n):
        client.async_stream_infer("big", [x])
    got = [answers.get(timeout=120) for _ in range(n)]
    client.stop_stream()
    return got


def test_stream_flood_is_held_to_the_window(flood_server: InferenceServer) -> None:
    budget = flood_server.repository.budget
    answers = _flood(flood_server.grpc_url, REQUESTS)
    assert answers == ["OK"] * REQUESTS  # nothing lost, nothing refused
    per_request = WIDTH * 4
    assert budget.peak <= WINDOW * per_request  # never more than a window in the server
    assert budget.used == 0


def test_budget_refuses_past_its_limit(big_repo: Path) -> None:
    """Many streams together exceed the budget: the excess is refused, not queued."""
    options = ServerOptions(
        [big_repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        max_queued_bytes=4 * WIDTH * 4,  # four requests
    )
    with InferenceServer(options) as srv:
        answers = _flood(srv.grpc_url, 64)
        assert srv.repository.budget.peak <= 4 * WIDTH * 4
        assert srv.repository.budget.used == 0
    refused = [a for a in answers if a != "OK"]
    assert refused, "a 64-request burst against a 4-request budget must see refusals"
    assert all("budget for queued requests" in a for a in refused)
    assert answers.count("OK") >= 4
