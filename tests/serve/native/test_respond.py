"""`hepinfer_grpc_respond`: answers given together reach their calls, whichever thread sends.

Up to `INLINE_ANSWERS` answers are sent from the calling thread, more go to the responder
thread; both must give each client exactly its answer (bytes, status code and details) and
keep a stream's answers in order. The C library is driven directly (no model, no event loop):
the test takes the received messages itself and answers them in one call.
"""

from __future__ import annotations

import ctypes
import select
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from hepinfer.serve.native.build import load_library
from hepinfer.serve.native.frontend import SERVICE, STREAM_METHOD, TAKE
from tests.serve.native.conftest import require_native

#: kInlineAnswers in grpc_frontend.cc
INLINE_ANSWERS = 4
METHODS = ("ModelInfer", STREAM_METHOD)
_MORE = -1  # kMore: a stream answer with more to follow


class _Native:
    """The native front end's C library serving METHODS, answered by hand."""

    def __init__(self) -> None:
        self.lib = load_library()
        port = ctypes.c_int(0)
        error = ctypes.create_string_buffer(512)
        none = (ctypes.c_char_p * len(METHODS))()
        one = (ctypes.c_char_p * 1)()
        self.handle = self.lib.hepinfer_grpc_start(
            b"127.0.0.1:0",
            "\n".join(f"/{SERVICE}/{m}" for m in METHODS).encode(),
            METHODS.index(STREAM_METHOD),
            1 << 20,
            1,
            0,
            one,
            (ctypes.c_longlong * 1)(),
            one,
            (ctypes.c_int * 1)(),
            none,
            none,
            none,
            None,
            None,
            None,
            0,
            ctypes.byref(port),
            error,
            len(error),
        )
        assert self.handle, error.value
        self.url = f"127.0.0.1:{port.value}"
        self.fd = self.lib.hepinfer_grpc_fd(self.handle)
        self._calls = (ctypes.c_ulonglong * TAKE)()
        self._kinds = (ctypes.c_int * TAKE)()
        self._data = (ctypes.c_void_p * TAKE)()
        self._sizes = (ctypes.c_ulonglong * TAKE)()

    def take(self, n: int) -> list[tuple[int, bytes]]:
        """Wait for `n` messages; (call, payload) each."""
        got: list[tuple[int, bytes]] = []
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while len(got) < n:
            assert poller.poll(10_000), f"{len(got)} of {n} messages arrived"
            k = self.lib.hepinfer_grpc_take(
                self.handle, TAKE, self._calls, self._kinds, self._data, self._sizes
            )
            got += [
                (self._calls[i], ctypes.string_at(self._data[i], self._sizes[i])) for i in range(k)
            ]
        return got

    def respond(self, answers: list[tuple[int, int, bytes, bytes]]) -> None:
        """(call, code, details, data) each, in one call."""
        n = len(answers)
        self.lib.hepinfer_grpc_respond(
            self.handle,
            n,
            (ctypes.c_ulonglong * n)(*[a[0] for a in answers]),
            (ctypes.c_int * n)(*[a[1] for a in answers]),
            (ctypes.c_char_p * n)(*[a[2] or None for a in answers]),
            (ctypes.c_char_p * n)(*[a[3] for a in answers]),
            (ctypes.c_ulonglong * n)(*[len(a[3]) for a in answers]),
        )

    def close(self) -> None:
        self.lib.hepinfer_grpc_shutdown(self.handle, 1000)
        self.lib.hepinfer_grpc_destroy(self.handle)


@pytest.fixture(scope="module")
def native() -> Iterator[_Native]:
    require_native()
    server = _Native()
    yield server
    server.close()


def _unary(channel: grpc.Channel, payload: bytes) -> tuple[Any, str, bytes]:
    call = channel.unary_unary(
        f"/{SERVICE}/ModelInfer", request_serializer=None, response_deserializer=None
    )
    try:
        return grpc.StatusCode.OK, "", call(payload, timeout=20)
    except grpc.RpcError as exc:
        return exc.code(), exc.details(), b""


@pytest.mark.parametrize("n", [1, 2, INLINE_ANSWERS, INLINE_ANSWERS + 1, 3 * INLINE_ANSWERS])
def test_answers_given_together_reach_their_calls(native: _Native, n: int) -> None:
    with grpc.insecure_channel(native.url) as channel, ThreadPoolExecutor(n) as pool:
        futures: list[Future[tuple[Any, str, bytes]]] = [
            pool.submit(_unary, channel, f"request {i}".encode()) for i in range(n)
        ]
        taken = native.take(n)
        answers = []
        for call, payload in taken:
            i = int(payload.split()[1])
            if i % 3 == 2:  # an error among the answers: status and details, no data
                answers.append((call, grpc.StatusCode.NOT_FOUND.value[0], f"no {i}".encode(), b""))
            else:
                answers.append((call, 0, b"", b"answer to " + payload + b"\x00" * i))
        native.respond(answers)
        results = [f.result(timeout=30) for f in futures]
    for i, (code, details, data) in enumerate(results):
        if i % 3 == 2:
            assert (code, details, data) == (grpc.StatusCode.NOT_FOUND, f"no {i}", b"")
        else:
            expected = f"answer to request {i}".encode() + b"\x00" * i
            assert (code, data) == (grpc.StatusCode.OK, expected)


@pytest.mark.parametrize("n", [INLINE_ANSWERS, 3 * INLINE_ANSWERS])
def test_a_streams_answers_keep_their_order(native: _Native, n: int) -> None:
    with grpc.insecure_channel(native.url) as channel:
        call = channel.stream_stream(
            f"/{SERVICE}/{STREAM_METHOD}", request_serializer=None, response_deserializer=None
        )
        requests = [f"message {i}".encode() for i in range(n)]
        stream = call(iter(requests), timeout=20)
        taken = native.take(n)
        assert [payload for _, payload in taken] == requests
        # each message answered twice (one answer with more to follow, then its last), in
        # two calls: a burst for the responder thread, then two answers that must not
        # overtake it (sent from this thread only once the responder holds nothing)
        answers = []
        for stream_call, payload in taken:
            answers.append((stream_call, _MORE, b"", b"first " + payload))
            answers.append((stream_call, 0, b"", b"last " + payload))
        native.respond(answers[:-2])
        native.respond(answers[-2:])
        got = list(stream)
    assert got == [a[3] for a in answers]
