"""The SONIC-style client: `acquire` sends an event's inputs, `produce` reads the outputs.

    from hepinfer.client import ClientOptions, Mode, SonicClient

    with SonicClient(ClientOptions("particlenet_AK4", servers=("node1:8001", "node2:8001"))) as client:
        for event in events:
            handle = client.acquire(build_inputs(event))   # sent; the job keeps working
            other_work(event)
            scores = client.produce(handle)["softmax"]      # waits only if not there yet

Rectangular batching (`acquire`): one request per event, the event's objects stacked on the
batch dimension (split into several requests above the model's max_batch_size, or padded to
a fixed `batch_size`). Ragged batching (`acquire_ragged`): one request per object, each with
its own shape. A failed request is retried (`allowed_tries` attempts in all) on the best other
server; when none answers, the local fallback server takes over.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb

from hepinfer.client.connection import COMPRESSION, Connection, QueueStats, describe_error
from hepinfer.client.model import ModelInfo, TensorInfo
from hepinfer.client.options import ClientOptions, Mode
from hepinfer.client.pool import ServerPool
from hepinfer.client.shm import ShmPool, Slot, needed_bytes
from hepinfer.client.stream import StreamFuture
from hepinfer.client.wire import RequestEncoder, raw_buffer
from hepinfer.errors import ClientError
from hepinfer.protocol import decode_raw

log = logging.getLogger(__name__)

Outputs = dict[str, np.ndarray]
T = TypeVar("T")

#: answers worth another try (elsewhere): the server or the network failed, not the request
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)
#: answers meaning the server itself is gone or broken: avoid it until it answers checks again
SERVER_DOWN = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}
)


@dataclass(frozen=True, slots=True)
class ClientStats:
    """What the client did so far."""

    requests: int
    retries: int
    failures: int
    per_server: dict[str, int]
    fallback_started: bool


class _Call:
    """One request on its way: payload, the server it went to, the tries so far."""

    __slots__ = ("arrays", "conn", "future", "id", "payload", "response", "slot", "tries")

    def __init__(
        self, payload: bytes, request_id: str, arrays: Sequence[np.ndarray] | None = None
    ) -> None:
        self.payload = payload
        self.id = request_id
        #: the inputs, kept to be written into shared memory (use_shared_memory)
        self.arrays = arrays
        self.slot: tuple[ShmPool, Slot] | None = None
        self.conn: Connection | None = None
        self.future: Any = None
        self.response: pb.ModelInferResponse | None = None
        self.tries = 0


class InferenceHandle(Generic[T]):
    """The answer to one `acquire`: `result()` (or `client.produce(handle)`) waits for it."""

    __slots__ = ("_assemble", "_calls", "_client", "_error", "_result")

    def __init__(
        self,
        client: SonicClient,
        calls: list[_Call],
        assemble: Callable[[list[pb.ModelInferResponse]], T],
    ) -> None:
        self._client = client
        self._calls = calls
        self._assemble = assemble
        self._result: T | None = None
        self._error: ClientError | None = None

    def done(self) -> bool:
        """Whether every request has its answer (never blocks)."""
        return all(
            c.response is not None or (c.future is not None and c.future.done())
            for c in self._calls
        )

    def result(self) -> T:
        """The outputs; retries failed requests. Raises ClientError when all tries fail."""
        if self._error is not None:
            raise self._error
        if self._result is None:
            wait = self._client._wait
            try:
                responses = [c.response if c.response is not None else wait(c) for c in self._calls]
            except ClientError as exc:
                self._error = exc
                raise
            self._result = self._assemble(responses)
            self._calls = []
        return self._result


class SonicClient:
    """A client for one model on one or more Triton-protocol servers (see module docs)."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.pool = ServerPool(options)
        self._timeout = options.timeout_s
        self._compression = COMPRESSION[options.compression]
        self._lock = threading.Lock()
        self._requests = 0
        self._retries = 0
        self._failures = 0
        self._executor: ThreadPoolExecutor | None = None
        self._streaming = options.streaming
        self._shm = options.use_shared_memory
        self._ids = itertools.count()
        try:
            self.model = self._fetch_model()
            self.outputs = self.model.select_outputs(options.outputs)
            self._encoder = RequestEncoder(
                options.model,
                options.version,
                [(i.name, i.datatype) for i in self.model.inputs],
                [o.name for o in self.outputs],
            )
        except BaseException:
            self.pool.close()
            raise
        self._input_names = frozenset(i.name for i in self.model.inputs)
        if any(i.datatype == "BYTES" for i in self.model.inputs):
            self._shm = False  # BYTES tensors travel serialised
        if options.mode is Mode.PSEUDO_ASYNC:
            self._executor = ThreadPoolExecutor(
                options.pseudo_async_workers, thread_name_prefix="hepinfer-client"
            )

    # ------------------------------------------------------------------ set-up
    def _fetch_model(self) -> ModelInfo:
        opts = self.options
        last: Exception | None = None
        for _ in range(max(2, len(self.pool.connections) + 1)):
            conn = self.pool.acquire()
            try:
                response = conn.stub.ModelConfig(
                    pb.ModelConfigRequest(name=opts.model, version=opts.version),
                    timeout=opts.health_timeout_s * 10,
                )
            except grpc.RpcError as exc:
                self.pool.release(conn, False, server_down=exc.code() in SERVER_DOWN)
                if exc.code() not in RETRYABLE:
                    msg = f"server {conn.url} has no model {opts.model!r}: {describe_error(exc)}"
                    raise ClientError(msg) from exc
                last = exc
                continue
            self.pool.release(conn, True, count=False)
            return ModelInfo.from_config(response.config, opts.version)
        msg = f"cannot read the configuration of model {opts.model!r}: {last}"
        raise ClientError(msg)

    # ------------------------------------------------------------------ sending
    def acquire(self, inputs: Mapping[str, Any]) -> InferenceHandle[Outputs]:
        """Send one event (rectangular batching): every input has the objects on axis 0.

        For a model without batching (max_batch_size 0) the arrays are sent as they are.
        """
        arrays = self._arrays(inputs, batched=self.model.batching)
        model = self.model
        if not model.batching:
            return self._send([self._encode(arrays)], self._single)
        n = arrays[0].shape[0]
        if n == 0:
            empty = {o.name: np.empty(o.empty_shape(0), o.dtype) for o in self.outputs}
            return InferenceHandle(self, [], lambda _: empty)
        size = self.options.batch_size or model.max_batch_size
        if self.options.batch_size is None and n <= size:
            return self._send([self._encode(arrays)], self._single)
        if size > model.max_batch_size:
            msg = (
                f"batch_size {size} exceeds max_batch_size {model.max_batch_size} of model "
                f"{model.name!r}; use a smaller batch_size"
            )
            raise ClientError(msg)
        calls = []
        for start in range(0, n, size):
            chunk = [a[start : start + size] for a in arrays]
            if self.options.batch_size is not None and chunk[0].shape[0] < size:
                chunk = [_pad(a, size) for a in chunk]
            calls.append(self._encode(chunk))
        return self._send(calls, lambda responses: self._concat(responses, n))

    def acquire_ragged(
        self, objects: Sequence[Mapping[str, Any]]
    ) -> InferenceHandle[list[Outputs]]:
        """Send one request per object (ragged batching); each object has its own shapes.

        For a batching model each object's arrays are sent with a batch dimension of 1 (added
        if absent, and removed again from its outputs).
        """
        batching = self.model.batching
        calls = []
        for obj in objects:
            arrays = self._arrays(obj, batched=False)
            if batching:
                arrays = [a[np.newaxis] for a in arrays]
            calls.append(self._encode(arrays))
        if batching:
            return self._send(
                calls, lambda rs: [{k: v[0] for k, v in self._decode(r).items()} for r in rs]
            )
        return self._send(calls, lambda rs: [self._decode(r) for r in rs])

    def produce(self, handle: InferenceHandle[T]) -> T:
        """The outputs of an `acquire` (waits for them if needed)."""
        return handle.result()

    def infer(self, inputs: Mapping[str, Any]) -> Outputs:
        """`acquire` then `produce`: one event, blocking."""
        return self.acquire(inputs).result()

    async def aproduce(self, handle: InferenceHandle[T]) -> T:
        """`produce` for asyncio: awaits the answers without blocking the event loop.

        Best with Mode.ASYNC (gRPC sends and receives in its own thread). A request that
        failed is retried in a worker thread, so the loop keeps running meanwhile.
        """
        loop = asyncio.get_running_loop()
        failed = False
        for call in handle._calls:
            future = call.future
            if future is None:
                continue
            if not future.done():
                waiter: asyncio.Future[None] = loop.create_future()

                def wake(_: object, waiter: asyncio.Future[None] = waiter) -> None:
                    loop.call_soon_threadsafe(_resolve, waiter)

                future.add_done_callback(wake)
                await waiter
            failed = failed or future.exception() is not None
        if failed:
            return await loop.run_in_executor(None, handle.result)
        return handle.result()

    async def ainfer(self, inputs: Mapping[str, Any]) -> Outputs:
        """`acquire` then `aproduce`: one event, for asyncio code."""
        return await self.aproduce(self.acquire(inputs))

    # ------------------------------------------------------------------ internals
    def _arrays(self, inputs: Mapping[str, Any], batched: bool) -> list[np.ndarray]:
        if inputs.keys() != self._input_names:
            missing = sorted(self._input_names - inputs.keys())
            extra = sorted(inputs.keys() - self._input_names)
            msg = (
                f"model {self.model.name!r} takes inputs {sorted(self._input_names)}; "
                f"missing {missing}, unknown {extra}"
            )
            raise ClientError(msg)
        arrays = []
        batch: int | None = None
        for info in self.model.inputs:
            array = _checked(info, inputs[info.name], batched)
            if batched:
                if batch is None:
                    batch = array.shape[0]
                elif array.shape[0] != batch:
                    msg = (
                        f"input {info.name!r} has {array.shape[0]} objects on axis 0 but "
                        f"{self.model.inputs[0].name!r} has {batch}; every input needs the same"
                    )
                    raise ClientError(msg)
            arrays.append(array)
        return arrays

    def _encode(self, arrays: Sequence[np.ndarray]) -> _Call:
        """A call for these inputs: its request bytes (with an id when streaming)."""
        rid = str(next(self._ids)) if self._streaming else ""
        if self._shm:  # encoded per server when sent (shared memory or, if refused, raw)
            return _Call(b"", rid, [np.ascontiguousarray(a) for a in arrays])
        shapes = [a.shape for a in arrays]
        return _Call(self._encoder.encode(shapes, [raw_buffer(a) for a in arrays], rid), rid)

    def _payload(self, call: _Call, conn: Connection) -> bytes:
        """The request bytes for `conn`: shared-memory references where possible."""
        arrays = call.arrays
        if arrays is None:
            return call.payload
        shapes = [a.shape for a in arrays]
        pool = conn.shm_pool(self.options.health_timeout_s * 10)
        if pool is not None:
            try:
                slot = pool.take(needed_bytes(arrays))
            except grpc.RpcError as exc:
                conn.refuse_shm(exc)
            else:
                refs = slot.write(arrays)
                call.slot = (pool, slot)
                regions = [(slot.name, off, n) for off, n in refs]
                return self._encoder.encode_shm(shapes, regions, call.id)
        return self._encoder.encode(shapes, [raw_buffer(a) for a in arrays], call.id)

    @staticmethod
    def _free_slot(call: _Call) -> None:
        if call.slot is not None:
            pool, slot = call.slot
            pool.give(slot)
            call.slot = None

    def _send(
        self, calls: list[_Call], assemble: Callable[[list[pb.ModelInferResponse]], T]
    ) -> InferenceHandle[T]:
        mode = self.options.mode
        with self._lock:
            self._requests += len(calls)
        if mode is Mode.ASYNC:
            for call in calls:
                self._start_async(call, None)
        elif mode is Mode.PSEUDO_ASYNC:
            assert self._executor is not None
            for call in calls:
                call.future = self._executor.submit(self._blocking, call)
        else:
            for call in calls:
                call.response = self._blocking(call)
        return InferenceHandle(self, calls, assemble)

    def _start_async(self, call: _Call, avoid: Connection | None) -> None:
        conn = self.pool.acquire(avoid)
        call.conn = conn
        call.tries += 1
        payload = self._payload(call, conn)
        if self._streaming:
            call.future = conn.stream(self._compression).submit(call.id, payload)
        else:
            call.future = conn.infer.future(
                payload, timeout=self._timeout, compression=self._compression
            )

    def _blocking(self, call: _Call) -> pb.ModelInferResponse:
        avoid: Connection | None = None
        while True:
            conn = self.pool.acquire(avoid)
            call.tries += 1
            try:
                payload = self._payload(call, conn)
                if self._streaming:
                    stream = conn.stream(self._compression)
                    response = stream.submit(call.id, payload).result(self._timeout)
                else:
                    response = conn.infer(
                        payload, timeout=self._timeout, compression=self._compression
                    )
            except grpc.RpcError as exc:
                self._free_slot(call)
                self._failed(conn, exc, call)
                avoid = conn
                continue
            self._free_slot(call)
            self.pool.release(conn, True)
            return response

    def _wait(self, call: _Call) -> pb.ModelInferResponse:
        future = call.future
        if isinstance(future, Future):  # pseudo-async: the worker retried already
            response: pb.ModelInferResponse = future.result()
            call.response = response
            return response
        while True:
            conn = call.conn
            assert conn is not None
            try:
                if isinstance(future, StreamFuture):
                    response = future.result(self._timeout)
                else:
                    response = future.result()
            except grpc.RpcError as exc:
                self._free_slot(call)
                self._failed(conn, exc, call)
                self._start_async(call, conn)
                future = call.future
                continue
            self._free_slot(call)
            self.pool.release(conn, True)
            call.response = response
            return response

    def _failed(self, conn: Connection, exc: grpc.RpcError, call: _Call) -> None:
        code = exc.code()
        self.pool.release(conn, False, server_down=code in SERVER_DOWN)
        if code not in RETRYABLE or call.tries >= self.options.allowed_tries:
            with self._lock:
                self._failures += 1
            why = "cannot be retried" if code not in RETRYABLE else f"after {call.tries} tries"
            msg = (
                f"inference of model {self.model.name!r} failed on {conn.url} "
                f"({describe_error(exc)}); {why} (allowed_tries={self.options.allowed_tries})"
            )
            raise ClientError(msg) from exc
        with self._lock:
            self._retries += 1
        log.info("retrying a request of %s after %s on %s", self.model.name, code.name, conn.url)

    def _decode(self, response: pb.ModelInferResponse) -> Outputs:
        raw = response.raw_output_contents
        out: Outputs = {}
        for i, tensor in enumerate(response.outputs):
            out[tensor.name] = decode_raw(tensor.name, raw[i], tensor.datatype, tensor.shape)
        return out

    def _single(self, responses: list[pb.ModelInferResponse]) -> Outputs:
        return self._decode(responses[0])

    def _concat(self, responses: list[pb.ModelInferResponse], n: int) -> Outputs:
        parts = [self._decode(r) for r in responses]
        return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}

    # ------------------------------------------------------------------ reporting
    def stats(self) -> ClientStats:
        """Requests sent, retries, final failures, answers per server, fallback state."""
        with self._lock:
            return ClientStats(
                self._requests,
                self._retries,
                self._failures,
                {c.url: c.completed for c in self.pool.connections},
                self.pool.fallback_started,
            )

    def server_statistics(self) -> dict[str, QueueStats]:
        """ModelStatistics of the model on every server that answers (like SONIC's verbose)."""
        out = {}
        for conn in self.pool.connections:
            try:
                out[conn.url] = conn.statistics(
                    self.options.model, self.options.version, self.options.health_timeout_s
                )
            except grpc.RpcError:
                continue
        return out

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Stop health checks, worker threads and the fallback server; close channels."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _checked(info: TensorInfo, value: Any, batched: bool) -> np.ndarray:
    """The input as an array of the model's dtype and a shape the model accepts."""
    dtype = info.dtype
    if isinstance(value, np.ndarray):
        array = value
        if array.dtype != dtype and not (dtype.kind == "O" and array.dtype.kind in "OSU"):
            msg = (
                f"input {info.name!r} is {array.dtype} but the model wants {info.datatype}; "
                f"cast it, e.g. array.astype(np.{dtype.name})"
            )
            raise ClientError(msg)
    else:
        array = np.asarray(value, dtype=dtype)
    dims = array.shape[1:] if batched else array.shape
    if len(dims) != len(info.dims) or any(
        d != want for d, want in zip(dims, info.dims, strict=True) if want >= 0
    ):
        expect = (["batch"] if batched else []) + [d if d >= 0 else "any" for d in info.dims]
        msg = f"input {info.name!r} has shape {list(array.shape)}; the model wants {expect}"
        raise ClientError(msg)
    return array


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    out[: array.shape[0]] = array
    return out
