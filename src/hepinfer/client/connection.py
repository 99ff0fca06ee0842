"""One server: a reused gRPC channel, its calls, and what the client knows of its health.

The channel and the multi-callables are made once; a request is sent as pre-encoded bytes
(`hepinfer.client.wire`) and the answer parsed by protobuf.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import grpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from hepinfer.client.shm import ShmPool, is_loopback
from hepinfer.client.stream import RequestStream
from hepinfer.client.tls import TlsOptions, open_channel
from hepinfer.protocol.statistics import ModelStatsTotals

log = logging.getLogger(__name__)

_SERVICE = "/inference.GRPCInferenceService/"

COMPRESSION = {
    "none": grpc.Compression.NoCompression,
    "gzip": grpc.Compression.Gzip,
    "deflate": grpc.Compression.Deflate,
}


#: a model's cumulative ModelStatistics counters on one server (times in ns)
QueueStats = ModelStatsTotals


class Connection:
    """A server address with its channel, stub, and health / load bookkeeping."""

    def __init__(
        self,
        url: str,
        max_message_bytes: int,
        channel_options: tuple[tuple[str, int | str], ...] = (),
        local: bool = False,
        tls: TlsOptions | None = None,
    ) -> None:
        self.url = url
        self.local = local
        self.channel = open_channel(
            url,
            [
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.enable_retries", 0),
                *channel_options,
            ],
            tls,
        )
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        self.infer: Any = self.channel.unary_unary(
            _SERVICE + "ModelInfer",
            request_serializer=None,  # requests are already bytes
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        self.healthy = False
        self.in_flight = 0
        self.completed = 0
        self.failed = 0
        #: average queue time per request (ns) over the last health interval
        self.recent_queue_ns = 0.0
        self.last_stats: QueueStats | None = None
        self.last_check = 0.0
        self._stream: RequestStream | None = None
        self._stream_lock = threading.Lock()
        self._shm: ShmPool | None = None
        #: whether shared memory may be tried with this server (same machine, not refused)
        self.shm_possible = local or is_loopback(url)

    def __repr__(self) -> str:
        state = "up" if self.healthy else "down"
        return f"Connection({self.url!r}, {state}, queue {self.recent_queue_ns / 1e3:.0f} us)"

    def check(self, model: str, version: str, timeout: float) -> bool:
        """Ask the server whether it is live and the model ready; update the queue time."""
        self.last_check = time.monotonic()
        try:
            live = self.stub.ServerLive(pb.ServerLiveRequest(), timeout=timeout).live
            ready = (
                live
                and self.stub.ModelReady(
                    pb.ModelReadyRequest(name=model, version=version), timeout=timeout
                ).ready
            )
            if ready:
                self.update_queue(model, version, timeout)
        except grpc.RpcError as exc:
            if self.healthy:
                log.warning("server %s stopped answering: %s", self.url, _describe(exc))
            self.healthy = False
            return False
        if ready != self.healthy:
            log.info("server %s is %s for %s", self.url, "ready" if ready else "not ready", model)
        self.healthy = bool(ready)
        return self.healthy

    def statistics(self, model: str, version: str, timeout: float) -> QueueStats:
        """The model's ModelStatistics on this server."""
        request = pb.ModelStatisticsRequest(name=model, version=version)
        return QueueStats.from_proto(self.stub.ModelStatistics(request, timeout=timeout))

    def update_queue(self, model: str, version: str, timeout: float) -> None:
        """Recent average queue time from the difference of two ModelStatistics answers."""
        try:
            stats = self.statistics(model, version, timeout)
        except grpc.RpcError:
            return  # statistics are optional (a server may not offer them)
        prev = self.last_stats
        if prev is not None:
            count = stats.queue_count - prev.queue_count
            if count > 0:
                self.recent_queue_ns = (stats.queue_ns - prev.queue_ns) / count
            else:
                self.recent_queue_ns *= 0.5  # idle: the queue drains
        self.last_stats = stats

    def stream(self, compression: grpc.Compression) -> RequestStream:
        """The open ModelStreamInfer stream to this server (a new one if it broke)."""
        stream = self._stream
        if stream is not None and stream.alive:
            return stream
        with self._stream_lock:
            if self._stream is None or not self._stream.alive:
                self._stream = RequestStream(self.channel, compression)
            return self._stream

    def shm_pool(self, timeout: float) -> ShmPool | None:
        """The shared-memory slots registered with this server (None: not on this machine)."""
        if not self.shm_possible:
            return None
        if self._shm is None:
            with self._stream_lock:
                if self._shm is None:
                    self._shm = ShmPool(self.stub, timeout)
        return self._shm

    def refuse_shm(self, exc: grpc.RpcError) -> None:
        """The server refused a region: send raw tensors to it from now on."""
        if self.shm_possible:
            log.info("server %s: no shared memory (%s); sending tensors", self.url, _describe(exc))
        self.shm_possible = False

    def close(self) -> None:
        """Close the stream, shared memory and the channel (pending calls are cancelled)."""
        if self._stream is not None:
            self._stream.close()
        if self._shm is not None:
            self._shm.close()
        self.channel.close()


def _describe(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return f"{code.name if code is not None else 'error'}: {details}"


def describe_error(exc: grpc.RpcError) -> str:
    """`CODE: details` of a gRPC error."""
    return _describe(exc)
