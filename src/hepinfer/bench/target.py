"""One model on one server, driven from asyncio: prepared requests, timed calls, statistics.

Requests are prepared once (`hepinfer.bench.payload`: gRPC message bytes or HTTP bodies,
tensors inline or in system shared memory) and sent as they are: over one `grpc.aio`
channel, pooled HTTP/1.1 connections, or the native gRPC C++ loop (`native_loop`). For every
request the time to hand it to the transport ("client send"), the time to parse its answer
("client recv") and the end-to-end latency are recorded, like perf_analyzer's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import grpc
import numpy as np
from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from hepinfer.bench.http import HttpClient
from hepinfer.bench.inputs import Step, batch, load_steps
from hepinfer.bench.native import NativeLoop
from hepinfer.bench.payload import (
    Region,
    ShmInputs,
    check_outputs,
    decode_http,
    grpc_payloads,
    http_bodies,
)
from hepinfer.client.connection import describe_error
from hepinfer.client.model import ModelInfo, TensorInfo
from hepinfer.client.shm import is_loopback
from hepinfer.client.tls import TlsOptions, open_aio_channel
from hepinfer.errors import BenchError
from hepinfer.protocol import decode_raw
from hepinfer.protocol.http_codec import HEADER_LENGTH
from hepinfer.protocol.statistics import ModelStatsTotals

log = logging.getLogger(__name__)

_INFER = "/inference.GRPCInferenceService/ModelInfer"
PROTOCOLS = ("grpc", "http")
SHARED_MEMORY = ("none", "system")


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


def _input_dims(info: TensorInfo, shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...] | None:
    """An input's dims without the batch dim: --shape, the model's, or None where variable."""
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
        return None
    return info.dims


class Target:
    """A model on a server, with prepared requests ready to send (use inside a running loop).

    `protocol` is perf_analyzer's ``-i`` (grpc or http), `input_data` its ``--input-data``
    (zero, random, a directory or a JSON file; see `hepinfer.bench.inputs`) and
    `shared_memory` its ``--shared-memory`` (none or system: inputs in one registered
    POSIX shared-memory region, for a server on this machine).
    """

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
        protocol: str = "grpc",
        input_data: str = "random",
        shared_memory: str = "none",
    ) -> None:
        if batch_size < 1:
            msg = f"batch size {batch_size} must be at least 1"
            raise BenchError(msg)
        host, sep, port = url.rpartition(":")
        if not sep or not host or not port.isdigit():
            msg = f"server address {url!r} is not 'host:port' (e.g. '127.0.0.1:8001')"
            raise BenchError(msg)
        if protocol not in PROTOCOLS:
            msg = f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)} (-i grpc|http)"
            raise BenchError(msg)
        if shared_memory not in SHARED_MEMORY:
            msg = (
                f"--shared-memory {shared_memory!r} is not one of {', '.join(SHARED_MEMORY)} "
                "(CUDA shared memory needs a GPU client; use system)"
            )
            raise BenchError(msg)
        if shared_memory == "system" and not is_loopback(url):
            msg = (
                f"--shared-memory system needs the server on this machine, but {url!r} is not "
                "a loopback address (127.x.x.x, localhost, [::1]); use --shared-memory none"
            )
            raise BenchError(msg)
        if tls is not None and protocol != "grpc":
            msg = "the --ssl-grpc-* options need -i grpc"
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
                "protocol": protocol,
                "input_data": input_data,
                "shared_memory": shared_memory,
            },
        )
        self.tls = tls
        self.url = url
        self.model_name = model
        self.version = version
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.protocol = protocol
        self.input_data = input_data
        self.shared_memory = shared_memory
        self._shapes = dict(shapes or {})
        self._seed = seed
        self._channel: grpc.aio.Channel | None = None
        self._http: HttpClient | None = None
        self._region: Region | None = None
        self.model: ModelInfo | None = None
        #: prepared requests: serialised gRPC messages, or full HTTP request bytes
        self.payloads: list[bytes] = []
        #: per prepared request, the outputs validation_data expects (may be empty)
        self.expected: list[dict[str, np.ndarray]] = []
        self._next = 0

    @property
    def model_path(self) -> str:
        """The model's HTTP path (with the version when one is chosen)."""
        path = f"/v2/models/{self.model_name}"
        return f"{path}/versions/{self.version}" if self.version else path

    async def connect(self) -> ModelInfo:
        """Open the connection (on the running loop), read the model's configuration, prepare
        the requests (and the shared-memory region) and validate the answers where the input
        data gives validation_data.
        """
        if self.protocol == "grpc":
            config = await self._grpc_config()
        else:
            config = await self._http_config()
        model = ModelInfo.from_config(config, self.version)
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
        dims = [_input_dims(i, self._shapes) for i in model.inputs]
        steps = load_steps(self.input_data, model.inputs, model.outputs, dims, self._seed)
        b = self.batch_size
        count = len(steps) // math.gcd(len(steps), b)  # request k starts at step k*b
        requests = [batch(steps, k * b, b, model.batching) for k in range(count)]
        self.expected = [_expected(steps, k * b, b, model.batching) for k in range(count)]
        self.model = model
        if self.shared_memory == "system":
            self._region = Region(requests)
            await self._register(self._region.inputs)
        shm = self._region.inputs if self._region is not None else None
        if self.protocol == "grpc":
            self.payloads = grpc_payloads(model, self.version, requests, shm)
        else:
            assert self._http is not None
            self.payloads = [
                self._http.prepare("POST", self.model_path + "/infer", body, headers)
                for body, headers in http_bodies(model, requests, shm)
            ]
        await self.validate()
        return model

    async def _grpc_config(self) -> Any:
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
        return response.config

    async def _http_config(self) -> Any:
        self._http = HttpClient(self.url, self.timeout_s)
        answer = await self._http.request("GET", self.model_path + "/config")
        if answer.status != 200:
            known = await self._model_names()
            msg = (
                f"server {self.url} has no model {self.model_name!r} (HTTP {answer.status}: "
                f"{answer.body[:200].decode(errors='replace')}); its models: "
                f"{', '.join(known) or 'none'}"
            )
            raise BenchError(msg)
        try:
            return json_format.ParseDict(
                json.loads(answer.body), mc.ModelConfig(), ignore_unknown_fields=True
            )
        except (ValueError, json_format.ParseError) as exc:
            msg = (
                f"{self.url} answered {self.model_path}/config with no model configuration ({exc})"
            )
            raise BenchError(msg) from exc

    async def _register(self, shm: ShmInputs) -> None:
        """Register the region with the server (a precise error when it refuses)."""
        try:
            if self.protocol == "grpc":
                await self.stub.SystemSharedMemoryRegister(
                    pb.SystemSharedMemoryRegisterRequest(
                        name=shm.region, key=shm.key, offset=0, byte_size=shm.size
                    ),
                    timeout=self.timeout_s,
                )
                return
            assert self._http is not None
            body = json.dumps({"key": shm.key, "offset": 0, "byte_size": shm.size}).encode()
            path = f"/v2/systemsharedmemory/region/{shm.region}/register"
            answer = await self._http.request("POST", path, body)
            if answer.status != 200:
                raise BenchError(answer.body[:300].decode(errors="replace"))
        except (grpc.RpcError, BenchError) as exc:
            detail = describe_error(exc) if isinstance(exc, grpc.RpcError) else str(exc)
            msg = (
                f"server {self.url} refused the shared-memory region {shm.region!r} "
                f"({detail}); start it with system shared memory enabled (hepinfer serve "
                "--enable-shm) or use --shared-memory none"
            )
            raise BenchError(msg) from exc

    async def _unregister(self) -> None:
        region = self._region
        if region is None:
            return
        self._region = None
        try:
            if self._channel is not None:
                await self.stub.SystemSharedMemoryUnregister(
                    pb.SystemSharedMemoryUnregisterRequest(name=region.inputs.region),
                    timeout=self.timeout_s,
                )
            elif self._http is not None:
                path = f"/v2/systemsharedmemory/region/{region.inputs.region}/unregister"
                await self._http.request("POST", path)
        except (grpc.RpcError, BenchError):
            log.warning("could not unregister shared-memory region %s", region.inputs.region)
        finally:
            region.close()

    @property
    def inferences_per_request(self) -> int:
        """Inferences one request carries (the batch size, perf_analyzer's -b)."""
        return self.batch_size

    @property
    def shm_region(self) -> str | None:
        """The name of the registered shared-memory region (None without one)."""
        return self._region.inputs.region if self._region is not None else None

    async def outputs(self, index: int) -> dict[str, np.ndarray]:
        """Send prepared request `index` once and return its decoded outputs."""
        payload = self.payloads[index]
        try:
            if self.protocol == "grpc":
                answer: bytes = await self._call(payload, timeout=self.timeout_s)
                response = pb.ModelInferResponse.FromString(answer)
                return {
                    o.name: decode_raw(o.name, raw, o.datatype, tuple(o.shape))
                    for o, raw in zip(response.outputs, response.raw_output_contents, strict=False)
                }
            assert self._http is not None
            reply = await self._http.send(payload)
        except grpc.RpcError as exc:
            msg = f"request {index} to {self.model_name!r} failed: {describe_error(exc)}"
            raise BenchError(msg) from exc
        if reply.status != 200:
            msg = (
                f"request {index} to {self.model_name!r} failed: HTTP {reply.status} "
                f"{reply.body[:300].decode(errors='replace')}"
            )
            raise BenchError(msg)
        return decode_http(reply.body, reply.headers.get(HEADER_LENGTH.lower()))

    async def validate(self) -> None:
        """Send each prepared request with validation_data once and compare its outputs."""
        for k, expected in enumerate(self.expected):
            if expected:
                check_outputs(k, await self.outputs(k), expected)

    async def infer(self) -> Sample:
        """Send the next prepared request and wait for its answer; a failure is a Sample
        with ok=False.
        """
        if not self.payloads:
            msg = "Target.connect() must run before infer()"
            raise BenchError(msg)
        payload = self.payloads[self._next % len(self.payloads)]
        self._next += 1
        start = time.perf_counter_ns()
        if self.protocol == "http":
            return await self._infer_http(payload, start)
        call = self._call(payload, timeout=self.timeout_s)
        sent = time.perf_counter_ns()
        try:
            answer: bytes = await call
        except grpc.RpcError:
            end = time.perf_counter_ns()
            return Sample(start, end, sent - start, 0, False)
        got = time.perf_counter_ns()
        response = pb.ModelInferResponse.FromString(answer)
        for output, raw in zip(response.outputs, response.raw_output_contents, strict=False):
            decode_raw(output.name, raw, output.datatype, tuple(output.shape))
        end = time.perf_counter_ns()
        return Sample(start, end, sent - start, end - got, True)

    async def _infer_http(self, payload: bytes, start: int) -> Sample:
        assert self._http is not None
        try:
            reply = await self._http.send(payload)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            end = time.perf_counter_ns()
            return Sample(start, end, 0, 0, False)
        got = time.perf_counter_ns()
        ok = reply.status == 200
        if ok:
            decode_http(reply.body, reply.headers.get(HEADER_LENGTH.lower()))
        end = time.perf_counter_ns()
        return Sample(start, end, 0, end - got, ok)

    def native_loop(self) -> NativeLoop:
        """A native (gRPC C++) loop sending this target's prepared requests (gRPC, no TLS)."""
        if self.protocol != "grpc" or self.tls is not None:
            msg = "the native load loop speaks plain gRPC only (-i grpc, no --ssl-grpc-use-ssl)"
            raise BenchError(msg)
        return NativeLoop(self.url, _INFER, self.payloads, timeout_s=self.timeout_s)

    async def _model_names(self) -> list[str]:
        if self.protocol == "http":
            assert self._http is not None
            try:
                answer = await self._http.request("POST", "/v2/repository/index", b"{}")
                return sorted({m["name"] for m in json.loads(answer.body)})
            except (BenchError, ValueError, KeyError, TypeError):
                return []
        try:
            index = await self.stub.RepositoryIndex(
                pb.RepositoryIndexRequest(ready=True), timeout=self.timeout_s
            )
        except grpc.RpcError:
            return []
        return sorted({m.name for m in index.models})

    async def counters(self) -> ServerCounters:
        """The model's cumulative server-side statistics now."""
        if self.protocol == "http":
            assert self._http is not None
            answer = await self._http.request("GET", self.model_path + "/stats")
            try:
                if answer.status != 200:
                    raise ValueError(answer.body[:300].decode(errors="replace"))
                stats = json_format.ParseDict(
                    json.loads(answer.body),
                    pb.ModelStatisticsResponse(),
                    ignore_unknown_fields=True,
                )
            except (ValueError, json_format.ParseError) as exc:
                msg = f"cannot read statistics of {self.model_name!r} at {self.url}: {exc}"
                raise BenchError(msg) from exc
            return ServerCounters.from_proto(stats)
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
        """Unregister the shared memory and close the connection."""
        await self._unregister()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _expected(
    steps: Sequence[Step], first: int, size: int, batching: bool
) -> dict[str, np.ndarray]:
    """The outputs a request must get (stacked over its steps), where every step gives them."""
    chosen = [steps[(first + k) % len(steps)] for k in range(size)]
    names = set(chosen[0].expected)
    for s in chosen[1:]:
        names &= set(s.expected)
    if not batching:
        return {n: chosen[0].expected[n] for n in names}
    return {n: np.stack([s.expected[n] for s in chosen]) for n in sorted(names)}
