"""Bounded queues and memory: Triton's queue policy (max_queue_size, default timeout with
REJECT or DELAY) and the server's budget for queued requests (issue 17, item 5).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.models import scale_model

WIDTH = 4096  # floats per sample: 16 KiB per request row

CONFIG = """
name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [{{ name: "INPUT0" data_type: TYPE_FP32 dims: [{width}] }}]
output [{{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [{width}] }}]
dynamic_batching {{
  preferred_batch_size: [8]
  max_queue_delay_microseconds: {delay}
  default_queue_policy {{ {policy} }}
}}
"""

MODELS = {
    # waits up to 1.5 s for a batch of 8; at most 2 requests queued
    "bounded": ("max_queue_size: 2", 1_500_000),
    # requests time out after 50 ms in the queue, and are rejected
    "reject": ("default_timeout_microseconds: 50000 allow_timeout_override: true", 1_500_000),
    # requests time out after 50 ms, then wait behind the others and are still served
    "delay": ("default_timeout_microseconds: 50000 timeout_action: DELAY", 300_000),
    # no policy: the budget test
    "budget": ("", 1_000_000),
}
BUDGET = 3 * WIDTH * 4  # three one-row requests


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    repo: Path = tmp_path_factory.mktemp("repo")
    for name, (policy, delay) in MODELS.items():
        scale_model(repo / name / "1" / "model.onnx", 2.0, width=WIDTH)
        (repo / name / "config.pbtxt").write_text(
            CONFIG.format(name=name, width=WIDTH, delay=delay, policy=policy)
        )
    options = ServerOptions(
        [repo], grpc_port=0, http_port=0, metrics_port=None, max_queued_bytes=BUDGET
    )
    with InferenceServer(options) as srv:
        yield srv


def _input(value: float = 1.0) -> grpcclient.InferInput:
    x = grpcclient.InferInput("INPUT0", [1, WIDTH], "FP32")
    x.set_data_from_numpy(np.full((1, WIDTH), value, np.float32))
    return x


def _send(
    client: grpcclient.InferenceServerClient, model: str, n: int, **kwargs: object
) -> list[tuple[object, InferenceServerException | None]]:
    """Send `n` requests at once; their (result, error) in completion order."""
    answers: queue.Queue[tuple[object, InferenceServerException | None]] = queue.Queue()
    for _ in range(n):
        client.async_infer(
            model, [_input()], callback=lambda result, error: answers.put((result, error)), **kwargs
        )
    return [answers.get(timeout=30) for _ in range(n)]


def test_max_queue_size(limits_server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(limits_server.grpc_url)
    answers = _send(client, "bounded", 4)
    errors = [e for _, e in answers if e is not None]
    assert len(errors) == 2
    for e in errors:
        assert e.status() == "StatusCode.UNAVAILABLE"
        assert "Exceeds maximum queue size" in e.message()
    # the two accepted ones are answered, after the queue delay
    assert sum(e is None for _, e in answers) == 2


def test_timeout_reject(limits_server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(limits_server.grpc_url)
    answers = _send(client, "reject", 2)
    for _, e in answers:
        assert e is not None
        assert e.status() == "StatusCode.UNAVAILABLE"
        assert "Request timeout expired" in e.message()
    # the request's own timeout (allow_timeout_override) can be longer: it is served
    x = _input(3.0)
    out = client.infer("reject", [x], timeout=5_000_000).as_numpy("OUTPUT0")
    np.testing.assert_array_equal(out, 6.0)
    # HTTP: the same policy, the same answer
    http = httpclient.InferenceServerClient(limits_server.http_url)
    h = httpclient.InferInput("INPUT0", [1, WIDTH], "FP32")
    h.set_data_from_numpy(np.ones((1, WIDTH), np.float32))
    with pytest.raises(InferenceServerException, match="Request timeout expired") as e:
        http.infer("reject", [h])
    assert e.value.status() == "503"


def test_timeout_delay_still_serves(limits_server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(limits_server.grpc_url)
    answers = _send(client, "delay", 3)
    assert [e for _, e in answers] == [None, None, None]


def test_memory_budget(limits_server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(limits_server.grpc_url)
    answers = _send(client, "budget", 5)
    errors = [e for _, e in answers if e is not None]
    assert len(errors) == 2
    for e in errors:
        assert e.status() == "StatusCode.RESOURCE_EXHAUSTED"
        assert "budget for queued requests" in e.message()
    # every byte is given back once the requests are answered
    assert limits_server.repository.budget.used == 0
    out = client.infer("budget", [_input(2.0)]).as_numpy("OUTPUT0")
    np.testing.assert_array_equal(out, 4.0)
    assert limits_server.repository.budget.used == 0
