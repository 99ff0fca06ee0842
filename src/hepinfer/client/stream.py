"""Requests over one long-lived ModelStreamInfer stream per server (``streaming=True``).

A unary gRPC call pays its set-up (call object, deadline, metadata, completion queue) per
request; a bidirectional stream pays it once, so many small requests cost the client less
CPU. Requests carry an id; a reader thread hands each answer to the waiting `StreamFuture`.
When the stream breaks (the server died), every request still waiting fails with the
stream's status and the next request opens a new stream. The per-request deadline is applied
by the waiter (`StreamFuture.result(timeout)`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from tritonclient.grpc import service_pb2 as pb

log = logging.getLogger(__name__)

_METHOD = "/inference.GRPCInferenceService/ModelStreamInfer"


class StreamError(grpc.RpcError):  # type: ignore[misc]
    """A request on a stream failed (status code and details like a unary call's error)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class StreamFuture:
    """The answer to one streamed request."""

    __slots__ = ("_callbacks", "_error", "_event", "_lock", "_response", "_stream", "id")

    def __init__(self, stream: RequestStream, request_id: str) -> None:
        self.id = request_id
        self._stream = stream
        self._event = threading.Event()
        self._response: pb.ModelInferResponse | None = None
        self._error: grpc.RpcError | None = None
        self._callbacks: list[Callable[[StreamFuture], None]] = []
        self._lock = threading.Lock()

    def done(self) -> bool:
        return self._event.is_set()

    def exception(self) -> grpc.RpcError | None:
        """The request's error once answered (None: success or not answered yet)."""
        return self._error

    def add_done_callback(self, fn: Callable[[StreamFuture], None]) -> None:
        """Call `fn(self)` once answered (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(fn)
                return
        fn(self)

    def set(self, response: pb.ModelInferResponse | None, error: grpc.RpcError | None) -> None:
        with self._lock:
            self._response, self._error = response, error
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)

    def result(self, timeout: float | None = None) -> pb.ModelInferResponse:
        """The response; raises the request's StreamError (DEADLINE_EXCEEDED after `timeout`)."""
        if not self._event.wait(timeout):
            self._stream.forget(self.id)
            raise StreamError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer within {timeout} s on the stream"
            )
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response


class RequestStream:
    """One ModelStreamInfer call carrying many requests."""

    def __init__(self, channel: grpc.Channel, compression: grpc.Compression) -> None:
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._pending: dict[str, StreamFuture] = {}
        self._lock = threading.Lock()
        self.alive = True
        call = channel.stream_stream(
            _METHOD,
            request_serializer=None,
            response_deserializer=pb.ModelStreamInferResponse.FromString,
        )
        self._responses: Any = call(self._requests(), compression=compression)
        self._reader = threading.Thread(target=self._read, name="hepinfer-stream", daemon=True)
        self._reader.start()

    def submit(self, request_id: str, payload: bytes) -> StreamFuture:
        """Send a request encoded with `request_id` (unique among those pending here)."""
        future = StreamFuture(self, request_id)
        with self._lock:
            if not self.alive:
                future.set(None, StreamError(grpc.StatusCode.UNAVAILABLE, "the stream is closed"))
                return future
            self._pending[request_id] = future
        self._outbox.put(payload)
        return future

    def forget(self, request_id: str) -> None:
        """Stop waiting for a request (timed out)."""
        with self._lock:
            self._pending.pop(request_id, None)

    def _requests(self) -> Iterator[bytes]:
        while (payload := self._outbox.get()) is not None:
            yield payload

    def _read(self) -> None:
        error: grpc.RpcError = StreamError(grpc.StatusCode.UNAVAILABLE, "the stream ended")
        try:
            for answer in self._responses:
                response = answer.infer_response
                with self._lock:
                    future = self._pending.pop(response.id, None)
                if future is None:
                    continue  # timed out meanwhile
                if answer.error_message:
                    future.set(None, StreamError(grpc.StatusCode.INTERNAL, answer.error_message))
                else:
                    future.set(response, None)
        except grpc.RpcError as exc:
            error = exc
        with self._lock:
            self.alive = False
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set(None, error)
        self._outbox.put(None)

    def close(self) -> None:
        """End the request stream (the server then closes its side)."""
        self._outbox.put(None)
        self._responses.cancel()
