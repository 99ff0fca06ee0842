"""Bad inputs: every malformed request gets a precise error; good requests alongside succeed."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2 as pb

from hepinfer.serve import InferenceServer, ServerOptions

LIMIT = 256 * 1024  # a small message limit, to test oversized messages


@pytest.fixture(scope="module")
def small_server(model_repo: Path) -> Iterator[InferenceServer]:
    options = ServerOptions(
        [model_repo],
        grpc_port=0,
        http_port=0,
        metrics_port=None,
        max_message_bytes=LIMIT,
        exit_on_error=False,
    )
    with InferenceServer(options) as srv:
        yield srv


def _raw_request(
    model: str = "scale",
    name: str = "INPUT0",
    datatype: str = "FP32",
    shape: tuple[int, ...] = (1, 4),
    raw: bytes | None = None,
    version: str = "",
    outputs: tuple[str, ...] = (),
) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, model_version=version)
    request.inputs.add(name=name, datatype=datatype, shape=list(shape))
    if raw is None:
        raw = np.ones(int(np.prod(shape)), np.float32).tobytes()
    request.raw_input_contents.append(raw)
    for out in outputs:
        request.outputs.add(name=out)
    return request


def _ints_missing_b() -> pb.ModelInferRequest:
    return _raw_request("ints", "A", "INT32", (3,), np.ones(3, np.int32).tobytes())


def _two_raw_for_one_input() -> pb.ModelInferRequest:
    request = _raw_request()
    request.raw_input_contents.append(b"1234")
    return request


def _bad_bytes() -> pb.ModelInferRequest:
    return _raw_request("strings", "TEXT_IN", "BYTES", (1, 2), b"\x05\x00\x00\x00ab")


#: (name, request, expected status, expected words in the message)
GRPC_CASES: list[tuple[str, Callable[[], pb.ModelInferRequest], grpc.StatusCode, str]] = [
    (
        "unknown model",
        lambda: _raw_request("nope"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unknown model: 'nope'",
    ),
    (
        "unknown version",
        lambda: _raw_request("versioned", version="9"),
        grpc.StatusCode.NOT_FOUND,
        "version 9 is not found",
    ),
    (
        "bad version",
        lambda: _raw_request(version="x"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "not an integer",
    ),
    (
        "unloaded model",
        lambda: _raw_request("broken"),
        grpc.StatusCode.UNAVAILABLE,
        "no available versions",
    ),
    (
        "wrong input name",
        lambda: _raw_request(name="INPUTX"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unexpected inference input 'INPUTX'",
    ),
    (
        "wrong dtype",
        lambda: _raw_request(datatype="INT32"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "data-type is 'INT32'",
    ),
    (
        "unknown dtype",
        lambda: _raw_request(datatype="FP99"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unknown tensor datatype",
    ),
    (
        "wrong shape",
        lambda: _raw_request(shape=(1, 5)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unexpected shape for input 'INPUT0'",
    ),
    (
        "no batch dim",
        lambda: _raw_request(shape=(4,)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unexpected shape",
    ),
    (
        "negative dim",
        lambda: _raw_request(shape=(-1, 4), raw=b""),
        grpc.StatusCode.INVALID_ARGUMENT,
        "negative dimension",
    ),
    (
        "byte size",
        lambda: _raw_request(raw=b"\x00" * 15),
        grpc.StatusCode.INVALID_ARGUMENT,
        "got 15 bytes",
    ),
    (
        "batch over max",
        lambda: _raw_request(shape=(9, 4)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "batch-size must be <= 8",
    ),
    (
        "missing input",
        _ints_missing_b,
        grpc.StatusCode.INVALID_ARGUMENT,
        "expected 2 inputs but got 1",
    ),
    (
        "unknown output",
        lambda: _raw_request(outputs=("NOPE",)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unexpected inference output 'NOPE'",
    ),
    ("raw count", _two_raw_for_one_input, grpc.StatusCode.INVALID_ARGUMENT, "raw_input_contents"),
    ("truncated BYTES", _bad_bytes, grpc.StatusCode.INVALID_ARGUMENT, "BYTES element 0"),
    (
        "oversized",
        lambda: _raw_request(shape=(8, 4), raw=b"\x00" * (LIMIT + 16)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "",
    ),
]


@pytest.mark.parametrize(
    ("case", "make", "code", "words"), GRPC_CASES, ids=[c[0] for c in GRPC_CASES]
)
def test_grpc_bad_requests(
    small_server: InferenceServer,
    case: str,
    make: Callable[[], pb.ModelInferRequest],
    code: grpc.StatusCode,
    words: str,
) -> None:
    client = grpcclient.InferenceServerClient(small_server.grpc_url)
    with pytest.raises(grpc.RpcError) as exc:
        client._client_stub.ModelInfer(make())
    assert exc.value.code() == code, exc.value.details()
    assert words in exc.value.details()


def _http(
    server: InferenceServer, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://{server.http_url}{path}", data=body, headers=headers or {}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _infer_body(**tensor: object) -> bytes:
    base: dict[str, object] = {
        "name": "INPUT0",
        "datatype": "FP32",
        "shape": [1, 4],
        "data": [1, 2, 3, 4],
    }
    base.update(tensor)
    return json.dumps({"inputs": [base]}).encode()


HTTP_CASES: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
    ("malformed JSON", "scale", b'{"inputs": [', {}, 400, "malformed JSON"),
    ("not an object", "scale", b"[1, 2]", {}, 400, "must be a JSON object"),
    ("no inputs", "scale", b"{}", {}, 400, "'inputs' list"),
    ("wrong name", "scale", _infer_body(name="X"), {}, 400, "unexpected inference input 'X'"),
    ("wrong dtype", "scale", _infer_body(datatype="INT64"), {}, 400, "data-type is 'INT64'"),
    ("too few values", "scale", _infer_body(data=[1, 2, 3]), {}, 400, "got 3 values"),
    (
        "bad values",
        "scale",
        _infer_body(data=["a", "b", "c", "d"]),
        {},
        400,
        "cannot read the data",
    ),
    ("bad shape type", "scale", _infer_body(shape="1x4"), {}, 400, "'shape' must be a list"),
    (
        "batch over max",
        "scale",
        _infer_body(shape=[9, 4], data=[0] * 36),
        {},
        400,
        "batch-size must be <= 8",
    ),
    ("unknown model", "nope", _infer_body(), {}, 400, "unknown model"),
    (
        "header too long",
        "scale",
        b"{}",
        {"Inference-Header-Content-Length": "99"},
        400,
        "has only 2 bytes",
    ),
    (
        "header not int",
        "scale",
        b"{}",
        {"Inference-Header-Content-Length": "x"},
        400,
        "must be an integer",
    ),
    (
        "binary size",
        "scale",
        _infer_body(data=None, parameters={"binary_data_size": 16}),
        {},
        400,
        "does not fit",
    ),
    ("oversized", "scale", b"[" + b"1," * LIMIT + b"1]", {}, 413, "too large"),
]


@pytest.mark.parametrize(
    ("case", "model", "body", "headers", "status", "words"),
    HTTP_CASES,
    ids=[c[0] for c in HTTP_CASES],
)
def test_http_bad_requests(
    small_server: InferenceServer,
    case: str,
    model: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    words: str,
) -> None:
    got, text = _http(small_server, f"/v2/models/{model}/infer", body, headers)
    assert got == status, text
    assert words in json.loads(text)["error"]


def _good_grpc(server: InferenceServer, seed: int) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    data = np.random.default_rng(seed).normal(size=(1, 4)).astype(np.float32)
    inp = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    inp.set_data_from_numpy(data)
    np.testing.assert_array_equal(client.infer("scale", [inp]).as_numpy("OUTPUT0"), 2 * data)


def _random_grpc(server: InferenceServer, seed: int) -> grpc.StatusCode:
    """Random bytes as a ModelInfer message (and as an unknown method)."""
    payload = np.random.default_rng(seed).bytes(64 + seed)
    with grpc.insecure_channel(server.grpc_url) as channel:
        method = "/inference.GRPCInferenceService/ModelInfer" if seed % 2 else "/inference.Nope/X"
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            call(payload, timeout=10)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _random_http(server: InferenceServer, seed: int) -> int:
    payload = os.urandom(32 + seed)
    headers = {"Inference-Header-Content-Length": str(seed)} if seed % 2 else {}
    status, _ = _http(server, "/v2/models/scale/infer", payload, headers)
    return status


def test_bad_and_good_requests_together(small_server: InferenceServer) -> None:
    """Random bytes and malformed requests from many threads; every good request succeeds."""
    with ThreadPoolExecutor(8) as pool:
        good = [pool.submit(_good_grpc, small_server, i) for i in range(40)]
        bad_grpc = [pool.submit(_random_grpc, small_server, i) for i in range(20)]
        bad_http = [pool.submit(_random_http, small_server, i) for i in range(20)]
        bad_cases = [
            pool.submit(test_grpc_bad_requests, small_server, *case) for case in GRPC_CASES
        ]
        for f in good:
            f.result()
        for f in bad_cases:
            f.result()
    assert all(f.result() != grpc.StatusCode.OK for f in bad_grpc)
    assert all(400 <= f.result() < 500 for f in bad_http)
    _good_grpc(small_server, 99)
