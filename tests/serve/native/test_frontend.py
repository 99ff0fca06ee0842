"""The native gRPC front end: protocol edges the shared service tests do not reach.

Everything RPC-level (every method, against tritonclient grpc and aio) runs against both
front ends in tests/serve/test_grpc_service.py; here: unknown methods, undecodable and
oversized messages, cancelled calls, streams with errors, and that no call is leaked.
"""

from __future__ import annotations

import queue
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2 as pb

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.native.frontend import POSTED_CALLS, NativeGrpcFrontend
from tests.serve.native.conftest import require_native

MAX_MESSAGE = 64 * 1024


def _options(model_repo: Path, **extra: Any) -> ServerOptions:
    """A gRPC-only server on the native front end (skips where it cannot be built)."""
    require_native()
    return ServerOptions(
        [model_repo],
        grpc_port=extra.pop("grpc_port", 0),
        http_port=None,
        metrics_port=None,
        grpc_frontend="native",
        exit_on_error=False,  # the repository has a broken model on purpose
        **extra,
    )


@pytest.fixture(scope="module")
def native(model_repo: Path) -> Iterator[InferenceServer]:
    with InferenceServer(_options(model_repo, max_message_bytes=MAX_MESSAGE)) as server:
        yield server


def _frontend(server: InferenceServer) -> NativeGrpcFrontend:
    frontend = server._grpc
    assert isinstance(frontend, NativeGrpcFrontend)
    return frontend


def _infer(server: InferenceServer, batch: int = 1, timeout: float | None = None) -> np.ndarray:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    data = np.arange(batch * 4, dtype=np.float32).reshape(batch, 4)
    inp = grpcclient.InferInput("INPUT0", [batch, 4], "FP32")
    inp.set_data_from_numpy(data)
    out = client.infer("scale", [inp], client_timeout=timeout).as_numpy("OUTPUT0")
    np.testing.assert_array_equal(out, 2 * data)
    return out  # type: ignore[no-any-return]


def _raw(server: InferenceServer, method: str, payload: bytes) -> grpc.RpcError:
    with grpc.insecure_channel(server.grpc_url) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as info:
            call(payload, timeout=10)
    return info.value


def _wait_for_baseline(frontend: NativeGrpcFrontend) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and frontend.open_calls > POSTED_CALLS * frontend.threads:
        time.sleep(0.02)
    return frontend.open_calls


def test_serves_with_the_native_transport(native: InferenceServer) -> None:
    before = _frontend(native).received
    _infer(native, batch=3)
    assert native.grpc_frontend == "native"
    assert _frontend(native).received == before + 1


def test_unknown_method_is_unimplemented(native: InferenceServer) -> None:
    error = _raw(native, "/inference.Nope/Method", b"")
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "unknown method /inference.Nope/Method" in str(error.details())


def test_undecodable_request_is_invalid_argument(native: InferenceServer) -> None:
    error = _raw(native, "/inference.GRPCInferenceService/ModelInfer", b"\xff\xff\xff\xff")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid inference.ModelInferRequest" in str(error.details())
    _infer(native)


def test_oversized_message_is_refused(native: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(native.grpc_url)
    inp = grpcclient.InferInput("INPUT0", [MAX_MESSAGE // 16 + 1, 4], "FP32")
    inp.set_data_from_numpy(np.zeros((MAX_MESSAGE // 16 + 1, 4), np.float32))
    with pytest.raises(Exception, match=r"RESOURCE_EXHAUSTED|larger than max"):
        client.infer("scale", [inp])
    _infer(native)


def test_cancelled_calls_leak_nothing(native: InferenceServer) -> None:
    """Calls abandoned by their clients (deadlines of 0.1 ms) are freed; others go on."""
    frontend = _frontend(native)

    def impatient(i: int) -> str:
        try:
            _infer(native, timeout=1e-4 if i % 2 else None)
        except Exception as exc:  # noqa: BLE001 - the deadline may or may not be met
            return type(exc).__name__
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(impatient, range(200)))
    assert results[::2] == ["ok"] * 100  # patient callers always succeed
    assert _wait_for_baseline(frontend) == POSTED_CALLS
    _infer(native)


def test_stream_mixes_answers_and_errors(native: InferenceServer) -> None:
    answers: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client = grpcclient.InferenceServerClient(native.grpc_url)
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    for i in range(40):
        data = np.full((1, 4), i, np.float32)
        inp = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
        inp.set_data_from_numpy(data)
        model = "scale" if i % 4 else "nope"
        client.async_stream_infer(model, [inp], request_id=str(i))
    got = [answers.get(timeout=30) for _ in range(40)]
    client.stop_stream()
    ok = {r.get_response().id: r.as_numpy("OUTPUT0") for r, e in got if e is None}
    errors = [e for _, e in got if e is not None]
    assert len(ok) == 30
    assert len(errors) == 10
    assert all("nope" in str(e) for e in errors)
    for request_id, out in ok.items():
        np.testing.assert_array_equal(out, np.full((1, 4), 2 * int(request_id), np.float32))
    assert _wait_for_baseline(_frontend(native)) == POSTED_CALLS


def test_undecodable_stream_message_ends_the_stream(native: InferenceServer) -> None:
    with grpc.insecure_channel(native.grpc_url) as channel:
        call = channel.stream_stream(
            "/inference.GRPCInferenceService/ModelStreamInfer",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as info:
            list(call(iter([b"\xff\xff\xff"]), timeout=10))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _infer(native)


def test_many_clients_at_once(native: InferenceServer) -> None:
    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda i: _infer(native, batch=1 + i % 5), range(400)))
    assert len(outs) == 400


def test_raw_protobuf_round_trip(native: InferenceServer) -> None:
    with grpc.insecure_channel(native.grpc_url) as channel:
        live = channel.unary_unary(
            "/inference.GRPCInferenceService/ServerLive",
            request_serializer=pb.ServerLiveRequest.SerializeToString,
            response_deserializer=pb.ServerLiveResponse.FromString,
        )
        assert live(pb.ServerLiveRequest(), timeout=10).live


def test_port_in_use_is_an_error(model_repo: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        options = _options(model_repo, grpc_port=busy)
        with pytest.raises(ServeError, match=f"cannot listen for gRPC on 127.0.0.1:{busy}"):
            InferenceServer(options).start_in_thread()


def test_stop_finishes_open_calls(model_repo: Path) -> None:
    server = InferenceServer(_options(model_repo))
    server.start_in_thread()
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(_infer, server, 2) for _ in range(40)]
        futures[0].result()  # requests are flowing (however slow the machine is)
        server.stop_thread()
        outcomes = []
        for f in futures:
            try:
                f.result()
                outcomes.append("ok")
            except Exception:  # noqa: BLE001 - refused once the server stopped
                outcomes.append("refused")
    assert "ok" in outcomes
    with socket.socket() as sock:  # nothing listens any more (closed calls may be in TIME_WAIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(server.grpc_port or 0)))


def test_two_transport_threads(model_repo: Path) -> None:
    options = _options(model_repo, grpc_threads=2)
    with InferenceServer(options) as server, ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda i: _infer(server, batch=1 + i % 3), range(100)))
        assert len(outs) == 100
        assert _wait_for_baseline(_frontend(server)) == 2 * POSTED_CALLS


def test_a_failing_handler_still_answers(native: InferenceServer) -> None:
    """Fault injection: a handler that raises gets its call answered INTERNAL, and the
    messages taken with it are still served.
    """
    frontend = _frontend(native)
    index = frontend._names.index("ServerLive")
    original = frontend._handlers[index]

    def broken(call: int, payload: bytes) -> None:
        msg = "injected failure"
        raise RuntimeError(msg)

    frontend._handlers[index] = broken
    try:
        error = _raw(native, "/inference.GRPCInferenceService/ServerLive", b"")
        assert error.code() == grpc.StatusCode.INTERNAL
        assert "injected failure" in str(error.details())
        _infer(native)
    finally:
        frontend._handlers[index] = original
    assert grpcclient.InferenceServerClient(native.grpc_url).is_server_live()
