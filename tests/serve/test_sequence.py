"""Sequence batching (Triton's sequence_batching) through real servers and tritonclient.

The ONNX accumulator keeps its running sum in the server's implicit state; the python-backend
accumulator keeps it itself (by CORRID) and is also served by Triton 2.51 (the peer), which
must answer the same requests with the same outputs and the same refusals.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.sequence_models import (
    ACCUMULATOR_PY,
    ACCUMULATOR_PY_CONFIG,
    accumulator_config,
    accumulator_onnx,
    write_model,
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seq") / "repo"
    onnx_bytes = accumulator_onnx(root.parent / "acc.onnx").read_bytes()
    for name, strategy, idle in (
        ("acc_oldest", "oldest", 1_000_000),
        ("acc_direct", "direct", 1_000_000),
        ("acc_idle", "oldest", 200_000),
    ):
        write_model(
            root, name, accumulator_config(name, strategy, idle), {"1/model.onnx": onnx_bytes}
        )
    write_model(root, "acc_py", ACCUMULATOR_PY_CONFIG, {"1/model.py": ACCUMULATOR_PY})
    return root


@pytest.fixture(scope="module")
def client(repo: Path) -> Iterator[grpcclient.InferenceServerClient]:
    options = ServerOptions([repo], grpc_port=0, http_port=None, metrics_port=None)
    with InferenceServer(options) as server:
        yield grpcclient.InferenceServerClient(server.grpc_url)


def _input(x: list[float]) -> list[grpcclient.InferInput]:
    inp = grpcclient.InferInput("INPUT", [1, 2], "FP32")
    inp.set_data_from_numpy(np.array([x], np.float32))
    return [inp]


def _call(client: grpcclient.InferenceServerClient, model: str, x: list[float], **kw: Any) -> Any:
    """The outputs of one request (as lists), or 'STATUS message' when it is refused."""
    try:
        result = client.infer(model, _input(x), **kw)
    except InferenceServerException as exc:
        return f"{exc.status()} {exc.message()}"
    response = result.get_response()
    return {o.name: result.as_numpy(o.name).tolist() for o in response.outputs}


@pytest.mark.parametrize("model", ["acc_oldest", "acc_direct"])
def test_interleaved_sequences_keep_their_own_state(
    client: grpcclient.InferenceServerClient, model: str
) -> None:
    """Three sequences through one stream: each output is its own sequence's running sum,
    and requests of different sequences share batches (fewer executions than requests).
    """
    rng = np.random.default_rng(1)
    steps = 6
    data = {
        corrid: rng.integers(-5, 6, size=(steps, 2)).astype(np.float32) for corrid in (11, 12, 13)
    }
    before = client.get_inference_statistics(model).model_stats[0]
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for step in range(steps):
            for corrid, rows in data.items():
                client.async_stream_infer(
                    model,
                    _input(rows[step].tolist()),
                    request_id=f"{corrid}:{step}",
                    sequence_id=corrid,
                    sequence_start=step == 0,
                    sequence_end=step == steps - 1,
                )
        got: dict[str, np.ndarray] = {}
        for _ in range(steps * len(data)):
            result, error = answers.get(timeout=30)
            assert error is None, error
            got[result.get_response().id] = result.as_numpy("OUTPUT")
            corr = result.as_numpy("CORR_OUT")
            assert int(corr[0, 0]) == int(result.get_response().id.split(":")[0])
    finally:
        client.stop_stream()
    for corrid, rows in data.items():
        sums = np.cumsum(rows, axis=0)
        for step in range(steps):
            np.testing.assert_array_equal(got[f"{corrid}:{step}"], sums[step : step + 1])
    after = client.get_inference_statistics(model).model_stats[0]
    requests = after.inference_count - before.inference_count
    executions = after.execution_count - before.execution_count
    assert requests == steps * len(data)
    assert executions < requests  # sequences were batched together


def test_a_new_start_resets_the_state(client: grpcclient.InferenceServerClient) -> None:
    assert _call(client, "acc_oldest", [1, 2], sequence_id=5, sequence_start=True)["OUTPUT"] == [
        [1, 2]
    ]
    assert _call(client, "acc_oldest", [1, 2], sequence_id=5)["OUTPUT"] == [[2, 4]]
    assert _call(client, "acc_oldest", [3, 3], sequence_id=5, sequence_start=True)["OUTPUT"] == [
        [3, 3]
    ]
    assert _call(client, "acc_oldest", [1, 1], sequence_id=5, sequence_end=True)["OUTPUT"] == [
        [4, 4]
    ]


MISSING_ID = (
    "StatusCode.INVALID_ARGUMENT inference request to model '{m}' must specify a non-zero or "
    "non-empty correlation ID"
)
NO_START = (
    "StatusCode.INVALID_ARGUMENT inference request for sequence {s} to model '{m}' must specify "
    "the START flag on the first request of the sequence"
)


def test_refusals_use_tritons_messages(client: grpcclient.InferenceServerClient) -> None:
    m = "acc_oldest"
    assert _call(client, m, [1, 1]) == MISSING_ID.format(m=m)
    assert _call(client, m, [1, 1], sequence_id=21) == NO_START.format(s=21, m=m)
    _call(client, m, [1, 1], sequence_id=22, sequence_start=True, sequence_end=True)
    assert _call(client, m, [1, 1], sequence_id=22) == NO_START.format(s=22, m=m)
    refused = _call(client, m, [1, 1], sequence_id="text-id", sequence_start=True)
    assert isinstance(refused, str)
    assert "does not fit its CORRID control input 'CORRID'" in refused


def test_idle_sequences_are_released(client: grpcclient.InferenceServerClient) -> None:
    """max_sequence_idle_microseconds (200 ms here): an idle sequence is forgotten."""
    m = "acc_idle"
    assert _call(client, m, [1, 1], sequence_id=31, sequence_start=True)["OUTPUT"] == [[1, 1]]
    assert _call(client, m, [1, 1], sequence_id=31)["OUTPUT"] == [[2, 2]]
    time.sleep(0.4)
    assert _call(client, m, [1, 1], sequence_id=31) == NO_START.format(s=31, m=m)


SCRIPT: list[tuple[list[float], dict[str, Any]]] = [
    ([1, 2], {}),
    ([1, 2], {"sequence_id": 7, "sequence_start": True}),
    ([1, 1], {"sequence_id": 8, "sequence_start": True}),
    ([3, 4], {"sequence_id": 7}),
    ([3, 4], {"sequence_id": 7, "sequence_end": True}),
    ([3, 4], {"sequence_id": 7}),
    ([5, 5], {"sequence_id": 8, "sequence_end": True}),
    ([1, 1], {"sequence_id": 10, "sequence_start": True, "sequence_end": True}),
    ([2, 2], {"sequence_id": 11, "sequence_start": True}),
    ([2, 2], {"sequence_id": 11, "sequence_start": True}),
    ([4, 4], {"sequence_id": 11}),
]


def test_python_accumulator_answers_like_triton(
    tritonserver_bin: Path, repo: Path, client: grpcclient.InferenceServerClient
) -> None:
    """The same python-backend sequence model and requests on Triton 2.51: same control
    inputs (START, END, READY, CORRID), same outputs, same refusals.
    """
    from tests.peers_util import TritonPeer

    peer_repo = repo.parent / "peer_repo"
    write_model(peer_repo, "acc_py", ACCUMULATOR_PY_CONFIG, {"1/model.py": ACCUMULATOR_PY})
    with TritonPeer(peer_repo, binary=tritonserver_bin) as triton:
        theirs_client = grpcclient.InferenceServerClient(triton.grpc_url)
        theirs = [_call(theirs_client, "acc_py", x, **kw) for x, kw in SCRIPT]
    ours = [_call(client, "acc_py", x, **kw) for x, kw in SCRIPT]
    assert ours == theirs
    assert theirs[4]["OUTPUT"] == [[7.0, 10.0]]  # the script exercises real sums
