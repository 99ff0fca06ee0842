"""The native gRPC front end's lane: raw ModelInfer requests of a python-backend model sent
from the C++ thread straight to the instance process and answered without the event loop.

Every check runs a real server with the native front end and real tritonclient clients: the
lane's answers (outputs, request ids, the model's errors, a dying process's error) must be
those of the event loop's path, a model with dynamic batching must still batch what waits
while the lane runs a request, concurrent clients get their own answers, and the
statistics count the lane's requests.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2 as pb
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.backends.python.served import PythonModel
from tests.serve.backends.pb_models import (
    IDENTITY,
    IDENTITY_CONFIG,
    SCALE,
    SCALE_CONFIG,
    write_python_model,
)
from tests.serve.native.conftest import require_native

#: X -> Y = X (plus the request's parameter "add"), N = the number of requests in the execute
#: call; a negative X[0] is an error, X[0] == 1000 sleeps 0.5 s, 2000 raises, 3000 ends the
#: process, 4000 doubles X by BLS
LANE_MODEL = """
import json
import os
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            first = float(x.reshape(-1)[0])
            if first == 1000:
                time.sleep(0.5)
            if first == 2000:
                raise ValueError("two thousand")
            if first == 3000:
                os._exit(7)
            if first == 4000:
                answer = pb_utils.InferenceRequest(
                    model_name="scale", requested_output_names=["SCALED"],
                    inputs=[pb_utils.Tensor("X", x.reshape(-1, 4))]).exec()
                x = pb_utils.get_output_tensor_by_name(answer, "SCALED").as_numpy().reshape(x.shape)
            if first < 0:
                out.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(f"X has negative values: {first}")))
                continue
            x = x + json.loads(r.parameters()).get("add", 0)
            n = np.full(x.shape[:1] if x.ndim > 1 else (1,), len(requests), np.int32)
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", x),
                                                   pb_utils.Tensor("N", n)]))
        return out
"""

PLAIN = """
backend: "python"
max_batch_size: 0
input [{ name: "X" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "Y" data_type: TYPE_FP32 dims: [4] }, { name: "N" data_type: TYPE_INT32 dims: [1] }]
"""

BATCHED = """
backend: "python"
max_batch_size: 8
input [{ name: "X" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "Y" data_type: TYPE_FP32 dims: [4] }, { name: "N" data_type: TYPE_INT32 dims: [1] }]
dynamic_batching {}
"""

NO_LANE = 'parameters { key: "grpc_lane" value: { string_value: "false" } }'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    require_native()
    repo: Path = tmp_path_factory.mktemp("lane")
    write_python_model(repo, "plain", LANE_MODEL, PLAIN)
    write_python_model(repo, "batched", LANE_MODEL, BATCHED)
    write_python_model(repo, "no_lane", LANE_MODEL, PLAIN + NO_LANE)
    write_python_model(repo, "scale", SCALE, SCALE_CONFIG)
    write_python_model(repo, "identity", IDENTITY, IDENTITY_CONFIG)
    options = ServerOptions(
        [repo], grpc_port=0, http_port=0, metrics_port=0, grpc_frontend="native"
    )
    with InferenceServer(options) as srv:
        yield srv


@pytest.fixture
def client(server: InferenceServer) -> Iterator[grpcclient.InferenceServerClient]:
    with grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}") as c:
        yield c


def _model(server: InferenceServer, name: str) -> PythonModel:
    model = server.core.repository.get(name, "")
    assert isinstance(model, PythonModel)
    return model


def _infer(
    client: grpcclient.InferenceServerClient, model: str, x: np.ndarray, request_id: str = ""
) -> grpcclient.InferResult:
    inp = grpcclient.InferInput("X", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return client.infer(model, [inp], request_id=request_id, client_timeout=30)


def _x(model: str, *values: float) -> np.ndarray:
    """X for `model`: [4] (plain) or [1, 4] (batched), starting with `values`."""
    x = np.arange(4, dtype=np.float32) + 1
    x[: len(values)] = values
    return x.reshape(1, 4) if model == "batched" else x


@pytest.mark.parametrize("model", ["plain", "batched"])
def test_the_lane_answers_as_the_loop_does(
    server: InferenceServer, client: grpcclient.InferenceServerClient, model: str
) -> None:
    served = _model(server, model)
    lane_before = served.lane_requests
    # the first request of a form goes through the loop (which registers the form)
    results = [_infer(client, model, _x(model, 5 + i), f"id-{i}") for i in range(6)]
    for i, r in enumerate(results):
        np.testing.assert_array_equal(r.as_numpy("Y"), _x(model, 5 + i))
        np.testing.assert_array_equal(r.as_numpy("N"), [1])
        assert r.get_response().id == f"id-{i}"
        assert r.get_response().model_name == model
        assert r.get_response().model_version == "1"
    assert served.lane_requests >= lane_before + 5


def test_parameters_reach_the_model_on_the_lane(
    server: InferenceServer, client: grpcclient.InferenceServerClient
) -> None:
    served = _model(server, "plain")
    for add in (1, 2):
        inp = grpcclient.InferInput("X", [4], "FP32")
        inp.set_data_from_numpy(_x("plain"))
        for _ in range(3):  # the first of each form through the loop, then the lane
            before = served.lane_requests
            r = client.infer("plain", [inp], parameters={"add": add}, request_id="p")
            np.testing.assert_array_equal(r.as_numpy("Y"), _x("plain") + add)
            assert r.get_response().id == "p"
        assert served.lane_requests == before + 1


def test_a_model_can_keep_its_requests_off_the_lane(
    server: InferenceServer, client: grpcclient.InferenceServerClient
) -> None:
    for _ in range(3):
        np.testing.assert_array_equal(
            _infer(client, "no_lane", _x("no_lane")).as_numpy("Y"), _x("")
        )
    assert _model(server, "no_lane").lane_requests == 0


@pytest.mark.parametrize("model", ["plain", "batched"])
def test_the_models_errors_are_the_loops(
    server: InferenceServer, client: grpcclient.InferenceServerClient, model: str
) -> None:
    """The same request on the loop's path (no_lane) and on the lane: the same error."""
    served = _model(server, model)
    _infer(client, model, _x(model, 7))  # the form is registered
    for value, text in ((-3, "X has negative values: -3.0"), (2000, "two thousand")):
        before = served.lane_requests
        with pytest.raises(InferenceServerException) as on_lane:
            _infer(client, model, _x(model, value))
        assert served.lane_requests == before + 1
        with pytest.raises(InferenceServerException) as on_loop:
            _infer(client, "no_lane", _x("no_lane", value))
        assert text in str(on_lane.value.message())
        assert on_lane.value.status() == on_loop.value.status()
        # the same text, but for the model's (and its instance's) name
        same = re.compile(r"model '[^']*'")
        assert same.sub("", str(on_lane.value.message())) == same.sub(
            "", str(on_loop.value.message())
        )


def test_statistics_count_the_lanes_requests(
    server: InferenceServer, client: grpcclient.InferenceServerClient
) -> None:
    _infer(client, "plain", _x("plain", 9))
    before = client.get_inference_statistics("plain").model_stats[0]
    lane_before = _model(server, "plain").lane_requests
    for _ in range(4):
        _infer(client, "plain", _x("plain", 9))
    with pytest.raises(InferenceServerException):
        _infer(client, "plain", _x("plain", -1))
    after = client.get_inference_statistics("plain").model_stats[0]
    assert _model(server, "plain").lane_requests == lane_before + 5
    assert after.inference_stats.success.count == before.inference_stats.success.count + 4
    assert after.inference_stats.fail.count == before.inference_stats.fail.count + 1
    assert after.execution_count == before.execution_count + 5
    assert after.inference_count == before.inference_count + 5
    assert after.inference_stats.compute_infer.ns > before.inference_stats.compute_infer.ns
    assert after.last_inference >= before.last_inference


def test_what_waits_while_the_lane_runs_is_batched(
    server: InferenceServer, client: grpcclient.InferenceServerClient
) -> None:
    """A slow request holds the lane; the requests that come meanwhile go to the loop's
    dynamic batcher and run as one batch when the lane frees the instance.
    """
    served = _model(server, "batched")
    _infer(client, "batched", _x("batched", 1000))  # registers the form (through the loop)
    before = served.lane_requests
    xs = [_x("batched", 11 + i) for i in range(4)]
    with ThreadPoolExecutor(5) as pool:
        slow = pool.submit(_infer, client, "batched", _x("batched", 1000))
        time.sleep(0.15)  # the slow request is on the lane
        futures = [pool.submit(_infer, client, "batched", x) for x in xs]
        results = [f.result() for f in futures]
        np.testing.assert_array_equal(slow.result().as_numpy("N"), [1])
    assert served.lane_requests == before + 1  # only the slow one took the lane
    for x, r in zip(xs, results, strict=True):
        np.testing.assert_array_equal(r.as_numpy("Y"), x)  # each its own answer
        np.testing.assert_array_equal(r.as_numpy("N"), [4])  # all four in one execute


@pytest.mark.parametrize("model", ["plain", "batched"])
def test_concurrent_clients_get_their_own_answers(server: InferenceServer, model: str) -> None:
    served = _model(server, model)
    before = served.lane_requests

    def client_run(k: int) -> None:
        with grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}") as c:
            for i in range(25):
                x = _x(model, k * 100 + i, k)
                r = _infer(c, model, x, f"{k}-{i}")
                np.testing.assert_array_equal(r.as_numpy("Y"), x)
                assert r.get_response().id == f"{k}-{i}"

    with ThreadPoolExecutor(6) as pool:
        for f in [pool.submit(client_run, k) for k in range(6)]:
            f.result()
    client_run(6)  # alone: on the lane
    assert served.lane_requests >= before + 20


def test_a_timed_out_request_leaves_no_answer_behind(
    server: InferenceServer, client: grpcclient.InferenceServerClient
) -> None:
    """The client gives up on a slow lane request; the next requests get their own answers."""
    _infer(client, "plain", _x("plain", 1000))
    before = _model(server, "plain").lane_requests
    inp = grpcclient.InferInput("X", [4], "FP32")
    inp.set_data_from_numpy(_x("plain", 1000))
    with pytest.raises(InferenceServerException, match="Deadline"):
        client.infer("plain", [inp], client_timeout=0.1)
    for i in range(3):
        np.testing.assert_array_equal(
            _infer(client, "plain", _x("plain", 21 + i)).as_numpy("Y"), _x("plain", 21 + i)
        )
    assert _model(server, "plain").lane_requests >= before + 2


def test_bls_calls_of_a_lane_request_are_served(
    server: InferenceServer, client: grpcclient.InferenceServerClient
) -> None:
    _infer(client, "plain", _x("plain", 4000))
    before = _model(server, "plain").lane_requests
    y = _infer(client, "plain", _x("plain", 4000)).as_numpy("Y")
    np.testing.assert_array_equal(y, 2 * _x("plain", 4000))
    assert _model(server, "plain").lane_requests == before + 1


def test_a_process_dying_on_the_lane_fails_its_request_and_restarts(
    server: InferenceServer, client: grpcclient.InferenceServerClient
) -> None:
    served = _model(server, "plain")
    _infer(client, "plain", _x("plain", 31))
    before = served.lane_requests
    with pytest.raises(InferenceServerException, match="exited with code 7"):
        _infer(client, "plain", _x("plain", 3000))
    assert served.lane_requests == before  # the lane did not answer it: the loop did
    # the process is started again; the lane opens to the new one
    deadline = time.monotonic() + 60
    while True:
        try:
            r = _infer(client, "plain", _x("plain", 32))
            break
        except InferenceServerException:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    np.testing.assert_array_equal(r.as_numpy("Y"), _x("plain", 32))
    # the first requests after the restart (re)open the lane; then it answers them
    for i in range(3):
        np.testing.assert_array_equal(
            _infer(client, "plain", _x("plain", 33 + i)).as_numpy("Y"), _x("plain", 33 + i)
        )
    assert served.lane_requests > before


def test_requests_the_lane_cannot_take_go_through_the_loop(
    server: InferenceServer, client: grpcclient.InferenceServerClient
) -> None:
    """New parameters, a wrong shape, typed contents: the loop's path answers (its errors)."""
    served = _model(server, "plain")
    _infer(client, "plain", _x("plain", 1))
    before = served.lane_requests
    inp = grpcclient.InferInput("X", [4], "FP32")
    inp.set_data_from_numpy(_x("plain", 2))
    r = client.infer("plain", [inp], parameters={"p": 1})
    np.testing.assert_array_equal(r.as_numpy("Y"), _x("plain", 2))
    with pytest.raises(InferenceServerException, match="shape"):
        _infer(client, "plain", np.ones(5, np.float32))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        request = pb.ModelInferRequest(model_name="plain")
        request.inputs.add(name="X", datatype="FP32", shape=[4]).contents.fp32_contents.extend(
            [1, 2, 3, 4]
        )
        answer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")(
            request.SerializeToString(), timeout=30
        )
        assert pb.ModelInferResponse.FromString(answer).model_name == "plain"
    assert served.lane_requests == before
