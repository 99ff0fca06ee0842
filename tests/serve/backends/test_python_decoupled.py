"""Decoupled python models over gRPC streaming, and instance processes that die and restart.

Through the real client (tritonclient's ``start_stream`` / ``async_stream_infer``), on both
gRPC front ends.
"""

from __future__ import annotations

import os
import queue
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.backends.pb_models import write_python_model

#: REPEAT: one response per element of IN (OUT = the element, IDX = its index), the last
#: from a thread after execute has returned, then the FINAL flag alone; an element < 0
#: is answered with an error response instead; 999 kills the process (os._exit)
REPEAT = """
import os
import threading

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.threads = []

    def execute(self, requests):
        for request in requests:
            values = pb_utils.get_input_tensor_by_name(request, "IN").as_numpy()
            sender = request.get_response_sender()
            if 999 in values:
                os._exit(7)
            if 998 in values:  # answer part, then die with the request open
                sender.send(self._response(values[0], 0))
                threading.Timer(0.2, os._exit, (8,)).start()
                continue
            for i, v in enumerate(values[:-1]):
                if v < 0:
                    error = pb_utils.TritonError(f"element {i} is negative: {v}")
                    sender.send(pb_utils.InferenceResponse(error=error))
                else:
                    sender.send(self._response(v, i))
            last = len(values) - 1

            def finish(sender=sender, v=values[-1], i=last):
                sender.send(self._response(v, i))
                sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

            t = threading.Thread(target=finish)
            t.start()
            self.threads.append(t)
        return None

    @staticmethod
    def _response(v, i):
        return pb_utils.InferenceResponse([
            pb_utils.Tensor("OUT", np.array([v], np.int32)),
            pb_utils.Tensor("IDX", np.array([i], np.int32)),
        ])

    def finalize(self):
        for t in self.threads:
            t.join()
"""

REPEAT_CONFIG = """
backend: "python"
max_batch_size: 0
model_transaction_policy { decoupled: true }
input [{ name: "IN" data_type: TYPE_INT32 dims: [-1] }]
output [{ name: "OUT" data_type: TYPE_INT32 dims: [1] },
        { name: "IDX" data_type: TYPE_INT32 dims: [1] }]
"""

#: returns its process id; input 999 kills the process
PID = """
import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            if 999 in pb_utils.get_input_tensor_by_name(r, "IN").as_numpy():
                os._exit(9)
            out.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("PID", np.array([os.getpid()], np.int64))]))
        return out
"""

PID_CONFIG = """
backend: "python"
max_batch_size: 0
input [{ name: "IN" data_type: TYPE_INT32 dims: [-1] }]
output [{ name: "PID" data_type: TYPE_INT64 dims: [1] }]
"""


@pytest.fixture(scope="module", params=["native", "aio"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InferenceServer]:
    repo = tmp_path_factory.mktemp("decoupled")
    write_python_model(repo, "repeat", REPEAT, REPEAT_CONFIG)
    write_python_model(repo, "pid", PID, PID_CONFIG)
    options = ServerOptions(
        [repo], grpc_port=0, http_port=0, metrics_port=0, grpc_frontend=request.param
    )
    with InferenceServer(options) as srv:
        yield srv


@pytest.fixture
def client(server: InferenceServer) -> Iterator[grpcclient.InferenceServerClient]:
    c = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    yield c
    c.stop_stream(cancel_requests=True)
    c.close()


def _in(values: list[int]) -> list[grpcclient.InferInput]:
    inp = grpcclient.InferInput("IN", [len(values)], "INT32")
    inp.set_data_from_numpy(np.array(values, np.int32))
    return [inp]


Message = tuple[grpcclient.InferResult | None, InferenceServerException | None]


def _stream(client: grpcclient.InferenceServerClient) -> queue.Queue[Message]:
    messages: queue.Queue[Message] = queue.Queue()
    client.start_stream(callback=lambda result, error: messages.put((result, error)))
    return messages


def _take(messages: queue.Queue[Message], n: int) -> list[Message]:
    return [messages.get(timeout=30) for _ in range(n)]


def test_every_response_of_a_decoupled_request_reaches_the_stream(
    client: grpcclient.InferenceServerClient,
) -> None:
    messages = _stream(client)
    values = [5, 7, 11, 13]
    client.async_stream_infer("repeat", _in(values), request_id="r1")
    got = _take(messages, len(values))
    assert all(error is None for _, error in got)
    results = [r for r, _ in got if r is not None]
    assert [int(r.as_numpy("OUT")[0]) for r in results] == values
    assert [int(r.as_numpy("IDX")[0]) for r in results] == list(range(len(values)))
    assert {r.get_response().id for r in results} == {"r1"}
    time.sleep(0.3)
    assert messages.empty()  # the FINAL flag alone is not written (no empty final asked)


def test_empty_final_response_flags_the_last_message(
    client: grpcclient.InferenceServerClient,
) -> None:
    messages = _stream(client)
    client.async_stream_infer("repeat", _in([3, 4]), enable_empty_final_response=True)
    got = _take(messages, 3)
    finals = []
    for result, error in got:
        assert error is None
        assert result is not None
        finals.append(result.get_response().parameters["triton_final_response"].bool_param)
    assert finals == [False, False, True]
    last = got[-1][0]
    assert last is not None
    assert len(last.get_response().outputs) == 0


def test_requests_of_one_stream_interleave_and_all_complete(
    client: grpcclient.InferenceServerClient,
) -> None:
    messages = _stream(client)
    for k in range(5):
        client.async_stream_infer("repeat", _in([k * 10 + i for i in range(3)]), request_id=str(k))
    got = _take(messages, 15)
    by_id: dict[str, list[int]] = {}
    for result, error in got:
        assert error is None
        assert result is not None
        by_id.setdefault(result.get_response().id, []).append(int(result.as_numpy("OUT")[0]))
    assert by_id == {str(k): [k * 10 + i for i in range(3)] for k in range(5)}


def test_an_error_response_goes_in_the_stream_and_the_rest_follows(
    client: grpcclient.InferenceServerClient,
) -> None:
    messages = _stream(client)
    client.async_stream_infer("repeat", _in([1, -2, 3]))
    (r0, e0), (_, e1), (r2, e2) = _take(messages, 3)
    assert e0 is None
    assert r0 is not None
    assert int(r0.as_numpy("OUT")[0]) == 1
    assert e1 is not None
    assert "element 1 is negative: -2" in e1.message()
    assert e2 is None
    assert r2 is not None
    assert int(r2.as_numpy("OUT")[0]) == 3


def _pid(client: grpcclient.InferenceServerClient) -> int:
    result = client.infer("pid", _in([1]), client_timeout=60)
    value = result.as_numpy("PID")
    assert value is not None
    return int(value[0])


def test_a_dead_instance_process_fails_its_request_and_is_restarted(
    client: grpcclient.InferenceServerClient,
) -> None:
    before = _pid(client)
    with pytest.raises(InferenceServerException, match="exited with code 9"):
        client.infer("pid", _in([999]), client_timeout=60)
    after = _pid(client)  # waits in the queue while the process starts again
    assert after != before
    assert client.is_model_ready("pid")
    assert _pid(client) == after


def _dead(pid: int) -> bool:
    """Whether the process has exited: a zombie whose threads have all ended (its sockets
    are then closed; a multi-threaded process's leader is a zombie before its other threads
    end), or gone (reaped). Reading it while it exits may fail with ESRCH: not yet.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    except ProcessLookupError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields["State"].split()[0] in "ZX" and int(fields["Threads"]) <= 1


def test_a_request_after_an_idle_process_died_waits_for_the_restart(
    client: grpcclient.InferenceServerClient,
) -> None:
    """An idle instance process killed from outside: the next request is answered by the
    restarted process, whether the server saw the death first or only when the request's
    send failed (the batch then waits for the restart instead of failing).
    """
    for _ in range(3):
        before = _pid(client)
        os.kill(before, signal.SIGKILL)
        end = time.monotonic() + 10
        while not _dead(before) and time.monotonic() < end:
            time.sleep(0.001)
        assert _dead(before)
        after = _pid(client)
        assert after != before
    assert client.is_model_ready("pid")


def test_open_decoupled_requests_of_a_dead_process_get_an_error(
    client: grpcclient.InferenceServerClient,
) -> None:
    messages = _stream(client)
    client.async_stream_infer("repeat", _in([998]))
    (first, e0), (_, e1) = _take(messages, 2)
    assert e0 is None
    assert first is not None
    assert int(first.as_numpy("OUT")[0]) == 998
    assert e1 is not None
    assert "died (exit code 8)" in e1.message()
    # the model is served again by a new process
    client.async_stream_infer("repeat", _in([1, 2]))
    again = _take(messages, 2)
    assert [int(r.as_numpy("OUT")[0]) for r, _ in again if r is not None] == [1, 2]


def test_a_batch_killed_in_execute_fails_on_the_stream(
    client: grpcclient.InferenceServerClient,
) -> None:
    messages = _stream(client)
    client.async_stream_infer("repeat", _in([999]))
    ((_, error),) = _take(messages, 1)
    assert error is not None
    assert "exited with code 7" in error.message()
    client.async_stream_infer("repeat", _in([4]))
    ((result, error),) = _take(messages, 1)
    assert error is None
    assert result is not None
    assert int(result.as_numpy("OUT")[0]) == 4
