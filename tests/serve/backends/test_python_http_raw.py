"""The python backend's HTTP raw path: infer bodies routed to the instance, answered as bodies.

Every check sends the same request twice to the same server: once as it comes (the raw path
takes it when it can: ``PythonModel.raw_requests`` counts it) and once with the raw path
switched off for that model (the decoded path: JSON and binary tensors decoded on the loop,
the response encoded there). Status, headers and bytes of the two answers must be equal.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from hepinfer.protocol.http_codec import encode_response
from hepinfer.protocol.messages import InferOutput, InferResponse
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.backends.python.http_raw import http_plan
from hepinfer.serve.backends.python.runtime._pb_stub import HttpEncoder
from hepinfer.serve.backends.python.served import PythonModel
from hepinfer.serve.http_fast import FastTCPSite
from hepinfer.serve.validate import TensorSpec
from tests.serve.backends.pb_models import (
    IDENTITY,
    IDENTITY_CONFIG,
    SCALE,
    SCALE_CONFIG,
    write_python_model,
)
from tests.serve.backends.test_python_raw import MIXED

#: MIXED without the queue delay (requests sent one at a time answer at once)
MIXED_CONFIG = """
backend: "python"
max_batch_size: 8
input [{ name: "X" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "OUT_F" data_type: TYPE_FP32 dims: [4] },
        { name: "OUT_I" data_type: TYPE_INT32 dims: [1] }]
dynamic_batching { }
"""

#: as MIXED_CONFIG, with a queue delay that lets concurrent requests share one execute
MIXED_SLOW_CONFIG = MIXED_CONFIG.replace("{ }", "{ max_queue_delay_microseconds: 100000 }")

Answer = tuple[int, str | None, bytes]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    repo = tmp_path_factory.mktemp("http_raw")
    write_python_model(repo, "identity", IDENTITY, IDENTITY_CONFIG)
    write_python_model(repo, "mixed", MIXED, MIXED_CONFIG)
    write_python_model(repo, "mixed_slow", MIXED, MIXED_SLOW_CONFIG)
    write_python_model(repo, "scale", SCALE, SCALE_CONFIG)
    options = ServerOptions([repo], grpc_port=None, http_port=0, metrics_port=None)
    with InferenceServer(options) as srv:
        yield srv


def _model(server: InferenceServer, name: str) -> PythonModel:
    model = server.core.repository.get(name, "")
    assert isinstance(model, PythonModel)
    return model


def _post(server: InferenceServer, model: str, body: bytes, headers: dict[str, str]) -> Answer:
    """(status, Inference-Header-Content-Length, body) of POST /v2/models/MODEL/infer."""
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    try:
        conn.request("POST", f"/v2/models/{model}/infer", body, headers)
        response = conn.getresponse()
        return (
            response.status,
            response.getheader("Inference-Header-Content-Length"),
            response.read(),
        )
    finally:
        conn.close()


@contextmanager
def _decoded(model: PythonModel) -> Iterator[None]:
    """The model with its raw paths off: every request is decoded on the loop."""
    specs = model._raw_inputs
    model._raw_inputs = None
    try:
        yield
    finally:
        model._raw_inputs = specs


def _both(
    server: InferenceServer, model: str, body: bytes, headers: dict[str, str], raw: bool = True
) -> tuple[Answer, Answer]:
    """(answer as sent, answer with the raw path off); checks which path the first took."""
    served = _model(server, model)
    before = served.raw_requests
    first = _post(server, model, body, headers)
    assert served.raw_requests == before + raw
    with _decoded(served):
        second = _post(server, model, body, headers)
    assert served.raw_requests == before + raw
    return first, second


def _body(
    x: np.ndarray,
    name: str = "X",
    binary: bool = True,
    outputs: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> tuple[bytes, dict[str, str]]:
    """An infer request body (binary tensor data or JSON data) and its headers."""
    tensor: dict[str, Any] = {"name": name, "datatype": "FP32", "shape": list(x.shape)}
    if binary:
        tensor["parameters"] = {"binary_data_size": x.nbytes}
    else:
        tensor["data"] = x.reshape(-1).tolist()
    header: dict[str, Any] = {"inputs": [tensor], **extra}
    if outputs is not None:
        header["outputs"] = outputs
    text = json.dumps(header).encode()
    if not binary:
        return text, {"Content-Type": "application/json"}
    return text + x.astype("<f4").tobytes(), {"Inference-Header-Content-Length": str(len(text))}


@pytest.mark.parametrize(
    ("flags", "request_id"),
    [((True, True), "r1"), ((False, False), ""), ((True, False), "é"), ((False, True), "x")],
)
def test_http_encoder_writes_what_the_server_writes(
    flags: tuple[bool, bool], request_id: str
) -> None:
    a = (np.random.default_rng(1).normal(size=(2, 3)) * 100).astype(np.float64)  # -> FP32
    b = np.arange(6, dtype=np.int64).reshape(2, 3).T  # not contiguous
    encoder = HttpEncoder(
        "m", "3", {"A": ("FP32", np.dtype(np.float32)), "B": ("INT64", np.dtype(np.int64))}
    )
    for _ in range(2):  # the second time from the encoder's cached headers (all binary)
        got = encoder.encode(request_id, [("B", b), ("A", a)], flags)
        want = encode_response(
            InferResponse(
                "m",
                "3",
                request_id,
                (InferOutput("B", "INT64", b), InferOutput("A", "FP32", a.astype(np.float32))),
            ),
            {"B": flags[0], "A": flags[1]},
            False,
        )
        assert got == want


def test_plan_takes_what_it_can_and_leaves_the_rest() -> None:
    specs = {"X": (TensorSpec("X", "FP32", (4,)), 4, "<f4")}
    outputs = {"Y": TensorSpec("Y", "FP32", (4,)), "Z": TensorSpec("Z", "INT32", (1,))}

    def plan(header: dict[str, Any], mbs: int = 8) -> Any:
        return http_plan(json.dumps(header).encode(), specs, outputs, mbs)

    x = {"name": "X", "datatype": "FP32", "shape": [2, 4]}
    good = plan({"inputs": [{**x, "parameters": {"binary_data_size": 32}}], "id": 7})
    assert good is not None
    assert (good.id, good.batch, good.key, good.binary_bytes, good.nbytes) == (
        "7",
        2,
        ((4,),),
        32,
        32,
    )
    assert [o.name for o in good.wanted] == ["Y", "Z"]
    assert good.reply == (False, False)
    asked = plan(
        {
            "inputs": [{**x, "data": list(range(8))}],
            "outputs": [{"name": "Z"}, {"name": "Y", "parameters": {"binary_data": True}}],
            "parameters": {"binary_data_output": True, "add": 1},
        }
    )
    assert asked is not None
    assert asked.reply == (True, True)
    np.testing.assert_array_equal(asked.arrays["X"], np.arange(8, dtype=np.float32).reshape(2, 4))
    assert asked.parameters == {"binary_data_output": True, "add": 1}
    refused = [
        {"inputs": [{**x, "parameters": {"binary_data_size": 31}}]},
        {"inputs": [{**x, "parameters": {"shared_memory_region": "r", "binary_data_size": 32}}]},
        {"inputs": [{**x, "shape": [9, 4], "data": [0] * 36}]},
        {"inputs": [{**x, "shape": [2, 5], "data": [0] * 10}]},
        {"inputs": [{**x, "datatype": "FP64", "data": [0] * 8}]},
        {"inputs": [{**x, "data": [0] * 7}]},
        {"inputs": [{**x, "data": ["a"] * 8}]},
        {"inputs": [{**x, "shape": [2, True], "data": [0] * 8}]},
        {"inputs": [{**x, "data": [0] * 8}], "outputs": [{"name": "NOPE"}]},
        {
            "inputs": [{**x, "data": [0] * 8}],
            "outputs": [{"name": "Y", "parameters": {"classification": 2}}],
        },
        {"inputs": [{**x, "data": [0] * 8}, {**x, "data": [0] * 8}]},
        {"inputs": {}},
        {"inputs": [{**x, "data": [0] * 8}], "parameters": []},
    ]
    for header in refused:
        assert plan(header) is None, header
    assert http_plan(b"{not json", specs, outputs, 8) is None
    assert http_plan(b"\xff", specs, outputs, 8) is None
    assert http_plan(b"[]", specs, outputs, 8) is None


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("shape", [(16,), (3,), (0,)])
def test_unbatched_raw_answer_is_the_decoded_answer(
    server: InferenceServer, binary: bool, shape: tuple[int, ...]
) -> None:
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    for outputs in (None, [{"name": "OUTPUT0", "parameters": {"binary_data": binary}}]):
        body, headers = _body(x, "INPUT0", binary, outputs, id="req-1")
        raw, decoded = _both(server, "identity", body, headers)
        assert raw == decoded
        status, length, data = raw
        assert status == 200
        head = json.loads(data if length is None else data[: int(length)])
        assert head["id"] == "req-1"
        assert head["model_name"] == "identity"
        if length is None:
            out = np.array(head["outputs"][0]["data"], np.float32)
        else:
            out = np.frombuffer(data[int(length) :], np.float32)
        np.testing.assert_array_equal(out.reshape(shape), x)


def test_batched_raw_answer_with_parameters_bls_casts_and_outputs(server: InferenceServer) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    cases: list[dict[str, Any]] = [
        {},
        {"parameters": {"add": 5}},
        {"parameters": {"bls": True, "binary_data_output": True}},
        {"outputs": [{"name": "OUT_I"}]},
        {"outputs": [{"name": "OUT_I", "parameters": {"binary_data": True}}, {"name": "OUT_F"}]},
        {"id": 12},
    ]
    for binary in (True, False):
        for case in cases:
            body, headers = _body(x, "X", binary, **case)
            raw, decoded = _both(server, "mixed", body, headers)
            assert raw == decoded, case
            assert raw[0] == 200
    # the answer itself: OUT_F = 2 x (BLS) as binary FP32 (the model returns FP64)
    body, headers = _body(x, parameters={"bls": True, "binary_data_output": True})
    status, length, data = _post(server, "mixed", body, headers)
    assert status == 200
    assert length is not None
    head = json.loads(data[: int(length)])
    assert [(o["name"], o["datatype"]) for o in head["outputs"]] == [
        ("OUT_F", "FP32"),
        ("OUT_I", "INT32"),
    ]
    np.testing.assert_array_equal(
        np.frombuffer(data[int(length) : int(length) + 32], np.float32).reshape(2, 4), 2 * x
    )


def test_model_errors_stay_per_request_in_one_execute(server: InferenceServer) -> None:
    xs = [np.full((1, 4), v, np.float32) for v in (1, -2, 3, 200, 5)]
    served = _model(server, "mixed_slow")
    stats = served.stats
    before = (served.raw_requests, stats.success.count, stats.fail.count)
    bodies = [_body(x) for x in xs]
    with ThreadPoolExecutor(len(xs)) as pool:  # together: batched (100 ms queue delay)
        answers = list(pool.map(lambda b: _post(server, "mixed_slow", *b), bodies))
    assert served.raw_requests == before[0] + len(xs)
    assert [a[0] for a in answers] == [200, 500, 200, 500, 200]
    counts = [
        int(np.frombuffer(answers[i][2][-4:], np.int32)[0])  # OUT_I, binary, last
        for i in (0, 2, 4)
    ]
    assert max(counts) > 1  # shared an execute call with others
    assert json.loads(answers[1][2]) == {"error": "X has negative values: -2.0"}
    assert json.loads(answers[3][2]) == {
        "error": "model 'mixed_slow': the response of execute lacks the requested output(s) "
        "['OUT_I']; return a pb_utils.Tensor for each"
    }
    with _decoded(served):  # the decoded path gives the same errors
        for i in (1, 3):
            assert _post(server, "mixed_slow", *bodies[i]) == answers[i]
    assert stats.success.count - before[1] == 3
    assert stats.fail.count - before[2] == 2 + 2  # and the two decoded ones


def _malformed(change: str) -> tuple[bytes, dict[str, str]]:
    x = np.zeros((1, 4), np.float32)
    body, headers = _body(x)
    length = int(headers["Inference-Header-Content-Length"])
    header, data = json.loads(body[:length]), body[length:]
    tensor = header["inputs"][0]
    if change == "short data":
        data = data[:12]
    elif change == "long data":
        data += b"\0" * 4
    elif change == "size":
        tensor["parameters"]["binary_data_size"] = 12
    elif change == "shape":
        tensor["shape"] = [1, 5]
    elif change == "rank":
        tensor["shape"] = [4]
    elif change == "batch":
        tensor["shape"] = [9, 4]
        tensor["parameters"]["binary_data_size"] = 144
        data = b"\0" * 144
    elif change == "datatype":
        tensor["datatype"] = "INT32"
    elif change == "name":
        tensor["name"] = "Y"
    elif change == "output":
        header["outputs"] = [{"name": "NOPE"}]
    elif change == "twice":
        header["inputs"].append(dict(tensor))
        data += data
    elif change == "negative":
        tensor["shape"] = [-1, 4]
    elif change == "json data":
        del tensor["parameters"]
        tensor["data"] = [1, 2, "x", 4]
    elif change == "json count":
        del tensor["parameters"]
        tensor["data"] = [1, 2, 3]
    elif change == "header length":
        text = json.dumps(header).encode()
        return text + data, {"Inference-Header-Content-Length": str(len(text) + len(data) + 1)}
    elif change == "header length text":
        text = json.dumps(header).encode()
        return text + data, {"Inference-Header-Content-Length": "12x"}
    elif change == "json":
        return b'{"inputs": [', {"Content-Type": "application/json"}
    elif change == "json binary":
        return b'{"inputs": [' + data, {"Inference-Header-Content-Length": "12"}
    text = json.dumps(header).encode()
    return text + data, {"Inference-Header-Content-Length": str(len(text))}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("short data", "input 'X': binary_data_size 16 does not fit the 12 binary bytes"),
        ("long data", "4 bytes of binary data after the last binary input"),
        ("size", "input 'X': got 12 bytes of raw data, but shape [1, 4] of FP32 needs 16"),
        ("shape", "input 'X': got 16 bytes of raw data, but shape [1, 5]"),
        ("rank", "unexpected shape for input 'X' for model 'mixed'"),
        ("batch", "inference request batch-size must be <= 8 for 'mixed'"),
        ("datatype", "inference input 'X' data-type is 'INT32'"),
        ("name", "unexpected inference input 'Y' for model 'mixed'"),
        ("output", "unexpected inference output 'NOPE' for model 'mixed'"),
        ("twice", "expected 1 inputs but got 2 inputs"),
        ("negative", "input 'X' has shape [-1, 4] with a negative dimension"),
        ("json data", "input 'X': cannot read the data as FP32"),
        ("json count", "input 'X': got 3 values, but shape [1, 4] needs 4"),
        ("header length", "Inference-Header-Content-Length is"),
        ("header length text", "Inference-Header-Content-Length must be an integer, got '12x'"),
        ("json", "malformed JSON in inference request header"),
        ("json binary", "malformed JSON in inference request header"),
    ],
)
def test_malformed_requests_get_the_decoded_paths_errors(
    server: InferenceServer, change: str, error: str
) -> None:
    served = _model(server, "mixed")
    backend = served._instances[0].backend
    pid = backend.process.process.pid  # type: ignore[attr-defined]
    raw, decoded = _both(server, "mixed", *_malformed(change), raw=False)
    assert raw == decoded
    status, _, data = raw
    assert status == 400
    assert json.loads(data)["error"].startswith(error)
    good = _post(server, "mixed", *_body(np.ones((1, 4), np.float32)))
    assert good[0] == 200
    assert backend.process.process.pid == pid  # type: ignore[attr-defined]
    assert backend.process.alive  # type: ignore[attr-defined]


def _exchange(server: InferenceServer, chunks: list[bytes], answers: int) -> list[bytes]:
    """Send raw bytes on one connection (a pause between chunks); the raw responses."""
    import socket
    import time

    with socket.create_connection(("127.0.0.1", server.http_port), timeout=30) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
            time.sleep(0.2)
        data = b""
        out: list[bytes] = []
        while len(out) < answers:
            more = sock.recv(65536)
            assert more, f"connection closed after {len(out)} answers"
            data += more
            while b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(rest) < length:
                    break
                out.append(head + b"\r\n\r\n" + rest[:length])
                data = rest[length:]
    return out


def _message(body: bytes, headers: dict[str, str], path: str = "/v2/models/mixed/infer") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _without_date(answer: bytes) -> bytes:
    return b"\r\n".join(line for line in answer.split(b"\r\n") if not line.startswith(b"Date:"))


def test_lean_http_path_writes_what_aiohttp_writes(server: InferenceServer) -> None:
    """The same request through the lean path and through aiohttp (a GET first hands the
    connection to aiohttp): the same status line, headers (Date aside) and body; requests
    sent together, and bodies sent after their headers, are answered in order.
    """
    served = _model(server, "mixed")
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    requests = [
        _message(*_body(x)),
        _message(*_body(x, binary=False, id="j")),
        _message(*_body(-x)),  # the model's error: 500
        _message(*_body(x, outputs=[{"name": "NOPE"}])),  # refused: aiohttp answers
    ]
    before = served.raw_requests
    lean = [_exchange(server, [r], 1)[0] for r in requests]
    assert served.raw_requests == before + 3
    get = b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n"
    via_aiohttp = _exchange(server, [get + b"".join(requests)], 1 + len(requests))[1:]
    assert served.raw_requests == before + 6
    assert [_without_date(a) for a in lean] == [_without_date(a) for a in via_aiohttp]
    assert lean[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert lean[2].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert lean[3].startswith(b"HTTP/1.1 400 Bad Request\r\n")
    # pipelined, and split between headers and body: answered in order on the lean path
    cut = requests[0].index(b"\r\n\r\n") + 4
    split = [requests[0][:cut], requests[0][cut:] + requests[1] + requests[0]]
    assert [_without_date(a) for a in _exchange(server, split, 3)] == [
        _without_date(a) for a in (lean[0], lean[1], lean[0])
    ]
    assert served.raw_requests == before + 9
    site = server._runners[0]._sites[0]  # type: ignore[attr-defined]
    assert isinstance(site, FastTCPSite)
    assert not site.connections  # every connection above was closed by its client


def test_lean_http_path_leaves_a_stalled_body_to_aiohttp(server: InferenceServer) -> None:
    x = np.ones((1, 4), np.float32)
    message = _message(*_body(x))
    # the body's last byte comes late: aiohttp takes the connection and answers it
    answers = _exchange(server, [message[:-1], message[-1:]], 1)
    assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n")


def test_lean_http_path_takes_a_large_body_sent_in_many_segments(
    server: InferenceServer,
) -> None:
    """A 4 MiB request written in 4 KiB segments (no pause): one answer, the model's output
    for every element (the lean path's buffer grows by appending, not by copying).
    """
    import socket

    x = np.arange(1 << 20, dtype=np.float32)
    body, headers = _body(
        x, name="INPUT0", outputs=[{"name": "OUTPUT0", "parameters": {"binary_data": True}}]
    )
    message = _message(body, headers, path="/v2/models/identity/infer")
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=60) as sock:
        for start in range(0, len(message), 4096):
            sock.sendall(message[start : start + 4096])
        data = b""
        while b"\r\n\r\n" not in data:
            more = sock.recv(1 << 16)
            assert more, "connection closed before the answer"
            data += more
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
        length = int(fields[b"Content-Length"])
        json_length = int(fields[b"Inference-Header-Content-Length"])
        while len(rest) < length:
            more = sock.recv(1 << 20)
            assert more, "connection closed inside the answer"
            rest += more
    out = np.frombuffer(rest[json_length:length], dtype="<f4")
    np.testing.assert_array_equal(out, x)
