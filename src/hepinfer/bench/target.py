"""One model on one server, driven from asyncio: random inputs, timed requests, statistics.

Requests go through one `grpc.aio` channel as pre-encoded bytes (`hepinfer.client.wire`), so
one process holds hundreds of requests in flight. For every request the time to encode it
("client send"), the time to parse its answer ("client recv") and the end-to-end latency
are recorded, like perf_analyzer's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from hepinfer.client.connection import describe_error
from hepinfer.client.model import ModelInfo, TensorInfo
from hepinfer.client.tls import TlsOptions, open_aio_channel
from hepinfer.client.wire import RequestEncoder, raw_buffer
from hepinfer.errors import BenchError
from hepinfer.protocol import decode_raw
from hepinfer.protocol.statistics import ModelStatsTotals

_INFER = "/inference.GRPCInferenceService/ModelInfer"
#: distinct random requests cycled through (perf_analyzer also reuses its random data)
_POOL = 8


@dataclass(frozen=True, slots=True)
class Sample:
    """One finished request; times in ns since an arbitrary origin (`time.perf_counter_ns`)."""

    start_ns: int
    end_ns: int
    send_ns: int
    recv_ns: int
    ok: bool

    @property
    def latency_ns(self) -> int:
        """End-to-end latency of the request."""
        return self.end_ns - self.start_ns


#: a model's cumulative ModelStatistics (all versions summed; durations in ns)
ServerCounters = ModelStatsTotals


def parse_shapes(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``NAME:d1,d2`` strings (perf_analyzer's --shape) -> {name: dims}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name, sep, dims = spec.rpartition(":")
        try:
            values = tuple(int(d) for d in dims.split(",")) if dims else ()
        except ValueError:
            values = (-1,)
        if not sep or not name or any(d < 0 for d in values):
            msg = f"--shape {spec!r} is not NAME:d1,d2,... with non-negative integer dims"
            raise BenchError(msg)
        shapes[name] = values
    return shapes


def _input_dims(info: TensorInfo, shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...]:
    if info.name in shapes:
        dims = shapes[info.name]
        fixed_ok = len(dims) == len(info.dims) and all(
            d == s or d < 0 for d, s in zip(info.dims, dims, strict=True)
        )
        if not fixed_ok:
            msg = (
                f"--shape {info.name}:{','.join(map(str, dims))} does not fit the model's "
                f"dims {list(info.dims)} (-1 = any size); give one value per dimension"
            )
            raise BenchError(msg)
        return dims
    if any(d < 0 for d in info.dims):
        msg = (
            f"input {info.name!r} has variable dims {list(info.dims)}; give its shape with "
            f"--shape {info.name}:" + ",".join("N" if d < 0 else str(d) for d in info.dims)
        )
        raise BenchError(msg)
    return info.dims


def random_tensor(info: TensorInfo, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random data of the tensor's dtype (uniform in [0, 1) for floats, small integers)."""
    dtype = info.dtype
    if info.datatype == "BYTES":
        return rng.integers(0, 1000, shape).astype(str).astype(object)
    if info.datatype == "BOOL":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind == "f":
        return rng.random(shape, dtype=np.float64).astype(dtype)
    return rng.integers(0, 100, shape).astype(dtype)


class Target:
    """A model on a server, with random requests ready to send (use inside a running loop)."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        version: str = "",
        batch_size: int = 1,
        shapes: Mapping[str, tuple[int, ...]] | None = None,
        timeout_s: float = 30.0,
        seed: int = 0,
        tls: TlsOptions | None = None,
    ) -> None:
        if batch_size < 1:
            msg = f"batch size {batch_size} must be at least 1"
            raise BenchError(msg)
        host, sep, port = url.rpartition(":")
        if not sep or not host or not port.isdigit():
            msg = f"server address {url!r} is not 'host:port' (e.g. '127.0.0.1:8001')"
            raise BenchError(msg)
        #: what another process needs to make the same Target (`Target(*spec[:2], **spec[2])`)
        self.spec: tuple[str, str, dict[str, Any]] = (
            url,
            model,
            {
                "version": version,
                "batch_size": batch_size,
                "shapes": dict(shapes or {}),
                "timeout_s": timeout_s,
                "seed": seed,
                "tls": tls,
            },
        )
        self.tls = tls
        self.url = url
        self.model_name = model
        self.version = version
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._shapes = dict(shapes or {})
        self._seed = seed
        self._channel: grpc.aio.Channel | None = None
        self.model: ModelInfo | None = None
        self._inputs: list[list[np.ndarray]] = []
        self._encoder: RequestEncoder | None = None
        self._next = 0

    async def connect(self) -> ModelInfo:
        """Open the channel (on the running loop), read the model's configuration and
        prepare the random inputs.
        """
        size = 256 * 1024 * 1024
        self._channel = open_aio_channel(
            self.url,
            [
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
            ],
            self.tls,
        )
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        self._call = self._channel.unary_unary(_INFER)
        try:
            response = await self.stub.ModelConfig(
                pb.ModelConfigRequest(name=self.model_name, version=self.version),
                timeout=self.timeout_s,
            )
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                msg = f"no server answers at {self.url}: {describe_error(exc)}"
            else:
                known = await self._model_names()
                msg = (
                    f"server {self.url} has no model {self.model_name!r} "
                    f"({describe_error(exc)}); its models: {', '.join(known) or 'none'}"
                )
            raise BenchError(msg) from exc
        model = ModelInfo.from_config(response.config, self.version)
        if not model.batching and self.batch_size != 1:
            msg = (
                f"model {model.name!r} does not batch (max_batch_size 0); use batch size 1, "
                f"not {self.batch_size}"
            )
            raise BenchError(msg)
        if model.batching and self.batch_size > model.max_batch_size:
            msg = (
                f"batch size {self.batch_size} is above model {model.name!r}'s "
                f"max_batch_size {model.max_batch_size}"
            )
            raise BenchError(msg)
        unknown = sorted(set(self._shapes) - {i.name for i in model.inputs})
        if unknown:
            msg = (
                f"--shape names unknown input(s) {unknown}; model {model.name!r} has inputs "
                f"{[i.name for i in model.inputs]}"
            )
            raise BenchError(msg)
        rng = np.random.default_rng(self._seed)
        dims = [_input_dims(i, self._shapes) for i in model.inputs]
        lead = (self.batch_size,) if model.batching else ()
        self._inputs = [
            [random_tensor(i, (*lead, *d), rng) for i, d in zip(model.inputs, dims, strict=True)]
            for _ in range(_POOL)
        ]
        self._encoder = RequestEncoder(
            model.name,
            self.version,
            [(i.name, i.datatype) for i in model.inputs],
            [o.name for o in model.outputs],
        )
        self.model = model
        return model

    @property
    def inferences_per_request(self) -> int:
        """Inferences one request carries (the batch size, perf_analyzer's -b)."""
        return self.batch_size

    async def infer(self) -> Sample:
        """Send one request and wait for its answer; a failure is a Sample with ok=False."""
        encoder = self._encoder
        if encoder is None:
            msg = "Target.connect() must run before infer()"
            raise BenchError(msg)
        arrays = self._inputs[self._next % _POOL]
        self._next += 1
        start = time.perf_counter_ns()
        payload = encoder.encode([a.shape for a in arrays], [raw_buffer(a) for a in arrays])
        sent = time.perf_counter_ns()
        try:
            answer: bytes = await self._call(payload, timeout=self.timeout_s)
        except grpc.RpcError:
            end = time.perf_counter_ns()
            return Sample(start, end, sent - start, 0, False)
        got = time.perf_counter_ns()
        response = pb.ModelInferResponse.FromString(answer)
        for output, raw in zip(response.outputs, response.raw_output_contents, strict=False):
            decode_raw(output.name, raw, output.datatype, tuple(output.shape))
        end = time.perf_counter_ns()
        return Sample(start, end, sent - start, end - got, True)

    async def _model_names(self) -> list[str]:
        try:
            index = await self.stub.RepositoryIndex(
                pb.RepositoryIndexRequest(ready=True), timeout=self.timeout_s
            )
        except grpc.RpcError:
            return []
        return sorted({m.name for m in index.models})

    async def counters(self) -> ServerCounters:
        """The model's cumulative server-side statistics now."""
        try:
            response = await self.stub.ModelStatistics(
                pb.ModelStatisticsRequest(name=self.model_name, version=self.version),
                timeout=self.timeout_s,
            )
        except grpc.RpcError as exc:
            msg = f"cannot read statistics of {self.model_name!r} at {self.url}: {describe_error(exc)}"
            raise BenchError(msg) from exc
        return ServerCounters.from_proto(response)

    async def close(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
