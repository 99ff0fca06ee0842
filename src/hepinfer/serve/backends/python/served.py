"""`PythonModel`: the scheduler of a python-backend model (Triton's ``execute(requests)``).

The dynamic batcher groups requests as for any model, but a python-backend instance gets
the *list* of requests (each with its own tensors) rather than one concatenated batch, and
answers each request on its own: one request's error does not fail the others. The event
loop sends a batch to the instance process and reads its answer (no thread hand-off); BLS
calls the model makes while it runs go to the server's other models through their own
schedulers, from the loop, and their answers back to the waiting process.

The raw path (`PythonModel.submit_raw`): a ModelInfer request from the native gRPC front end
whose inputs are all raw, numeric and exactly what the configuration asks is not decoded on
the loop. Its ``raw_input_contents`` bytes go into the instance's arena as they are, and the
instance process sends back the serialized ModelInferResponse, which the front end writes
out: the loop only checks names, datatypes, shapes and sizes, queues and routes bytes. Any
other request (shared memory, classification, typed contents, BYTES tensors, a sequence or
decoupled model, a request with something wrong in it) takes the decoded path, so every
error message comes from the same place as before.

A decoupled model (``model_transaction_policy { decoupled: true }``) answers through its
requests' response senders, any number of responses per request, the last flagged
``TRITONSERVER_RESPONSE_COMPLETE_FINAL``, also after ``execute`` has returned; such models
are served on ModelStreamInfer only, as in Triton. An instance process that dies fails its
requests (the batch in ``execute`` and the decoupled requests still open) and is started
again, off the loop; the model stays available and queued requests wait for it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import pickle
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from google.protobuf.message import DecodeError
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc import service_pb2 as pb

from hepinfer.errors import HepinferError, ProtocolError, ServeError
from hepinfer.protocol.dtypes import WIRE_ITEMSIZE, numpy_dtype, wire_datatype
from hepinfer.protocol.grpc_codec import parameters_dict
from hepinfer.protocol.messages import InferInput, InferRequest, InferResponse, RequestedOutput
from hepinfer.serve import lanes
from hepinfer.serve.arrivals import after_burst, arrivals, loop_fd
from hepinfer.serve.backends.base import ModelInstance
from hepinfer.serve.backends.python.backend import PythonModelInstance
from hepinfer.serve.backends.python.http_raw import HttpPlan, http_plan
from hepinfer.serve.backends.python.instance import (
    STOP_TIMEOUT_S,
    BlsReply,
    HttpBody,
    PyRequest,
    PythonInstance,
    Result,
)
from hepinfer.serve.backends.python.raw import scan
from hepinfer.serve.backends.python.runtime._pb_stub import RawTensor
from hepinfer.serve.budget import MemoryBudget
from hepinfer.serve.ensemble import Resolver
from hepinfer.serve.model import Done, RawDone, ServedModel, _Instance, _Pending, _Result
from hepinfer.serve.shm import SharedMemoryManager
from hepinfer.serve.stats import BatchStats
from hepinfer.serve.status import classify_error
from hepinfer.serve.streams import ResponseStream
from hepinfer.serve.validate import TensorSpec

log = logging.getLogger(__name__)

#: requests of an unbatched model given to one ``execute`` call, at most (by default)
MAX_REQUESTS = 64
#: a model with one instance whose round trips take less than this (moving average) is
#: waited for on the loop, polling, for up to this long: no sleep and wake-up of the loop
INLINE_WAIT_NS = 300_000
#: lone batches that go without a sleeping inline wait after one that ended unanswered
SKIP_WAITS = 8
#: seconds between looks at the machine's load (whether an inline wait may hold a CPU)
LOAD_CHECK_S = 1.0
#: seconds between attempts to start a dead instance process again when a start fails
RESTART_RETRY_S = 1.0
#: seconds to wait for the exit status of a process whose socket refused a batch
UNDELIVERED_WAIT_S = 1.0
#: seconds before a model tries again to open a lane that it could not open
LANE_RETRY_S = 1.0
#: TRITONSERVER_RESPONSE_COMPLETE_FINAL
_FINAL = 1
#: distinct tensor descriptions (and parameter sets) a model keeps checked for the raw path
MAX_PLANS = 256
_INPUT = pb.ModelInferRequest.InferInputTensor
_OUTPUT = pb.ModelInferRequest.InferRequestedOutputTensor
_UNKNOWN = object()
_NO_PARAMETERS: Mapping[str, Any] = MappingProxyType({})


class _Plan(NamedTuple):
    """The raw path's view of one form of request (its tensor descriptions, checked)."""

    #: per input: name, numpy dtype str, shape, bytes its raw contents must have
    inputs: tuple[tuple[str, str, tuple[int, ...], int], ...]
    key: tuple[tuple[int, ...], ...]  #: the batcher's key (shapes without batch)
    batch: int
    wanted: tuple[RequestedOutput, ...]
    nbytes: int


def _plain(parameters: Mapping[str, Any]) -> dict[str, Any] | str:
    """A request's parameters as the instance process gets them (`PyRequest.parameters`).

    Values that came from the wire (bool, int, float, str) travel as they are, in a dict;
    anything else as JSON text, with values JSON cannot hold written as strings.
    """
    if not parameters:
        return "{}"
    if all(type(v) in _WIRE_TYPES for v in parameters.values()):
        return dict(parameters)
    return json.dumps(dict(parameters), default=str)


_WIRE_TYPES = frozenset((bool, int, float, str))

#: gets an HTTP raw-path request's body (an `InferResponse` never comes), or its error
HttpDone = Callable[[HttpBody | InferResponse | None, Exception | None], None]


class _Failed(dict[str, np.ndarray]):
    """The result of a request the model answered with an error."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class _Open(dict[str, np.ndarray]):
    """The result of a decoupled model's request: its responses come through its sender."""


class _Encoded(dict[str, np.ndarray]):
    """The result of a raw-path request: its serialized ModelInferResponse, or HTTP body."""

    def __init__(self, data: bytes | HttpBody) -> None:
        super().__init__()
        self.data = data


@dataclass(slots=True)
class _RawPending(_Pending):
    """A raw-path request: its inputs as the wire's bytes, its answer serialized bytes."""

    #: None: the inputs are `arrays` (an HTTP request's JSON ``data`` lists)
    raw: list[RawTensor] | None = field(default_factory=list)
    #: gets the serialized response (gRPC: bytes; HTTP: an `HttpBody`) or the error
    answer: Callable[[Any, Exception | None], None] | None = None
    #: how the instance answers (`PyRequest.reply`)
    reply: bool | tuple[bool, ...] = True


class PythonModel(ServedModel):
    """A python-backend model version: requests go to ``execute`` as a list."""

    def __init__(
        self,
        config: mc.ModelConfig,
        version: int,
        instances: Sequence[ModelInstance],
        labels: dict[str, list[str]],
        path: Path,
        budget: MemoryBudget | None,
        resolver: Resolver | None,
    ) -> None:
        super().__init__(config, version, instances, labels, path, budget)
        self._resolver = resolver
        key = "execute_max_requests"
        text = config.parameters[key].string_value if key in config.parameters else ""
        if text and (not text.isdigit() or int(text) < 1):
            msg = f"model '{self.name}': parameter {key} = {text!r} must be an integer >= 1"
            raise ServeError(msg)
        self._max_requests = int(text) if text else MAX_REQUESTS
        inline = (
            config.parameters["execute_inline"].string_value
            if "execute_inline" in config.parameters
            else "auto"
        )
        self._wait_inline = len(instances) == 1 and inline != "false"
        self._force_wait = self._wait_inline and inline in ("true", "spin")
        self._spin = inline == "spin"
        #: the loop whose descriptor the sleeping inline wait polls, and that descriptor
        self._wake_loop: asyncio.AbstractEventLoop | None = None
        self._wake_fd: int | None = None
        #: lone batches still to go without a sleeping wait (`_waited`)
        self._skip_waits = 0
        #: the load average's source (a test replaces it), its last answer and when it came
        self._loadavg: Callable[[], tuple[float, float, float]] = os.getloadavg
        self._spare = True
        self._load_checked = -LOAD_CHECK_S
        self._round_trip_ema_ns = 0
        #: the front ends' count of received requests (ends an inline wait), once looked up
        self._arrivals: Callable[[], int] | None = None
        self._decoupled = config.model_transaction_policy.decoupled
        self._tokens = itertools.count(1)
        #: decoupled requests not final yet: token -> (request, the instance that ran it)
        self._open: dict[int, tuple[_Pending, _Instance]] = {}
        #: the raw path: per input (spec, bytes per element, numpy dtype str); None when the
        #: model cannot take raw requests (decoupled, sequences, BYTES or ragged tensors)
        self._raw_inputs = self._raw_specs()
        #: requests taken undecoded by `submit_raw` so far (`raw_requests` adds the lane's)
        self._raw_count = 0
        #: the raw path's checked tensor descriptions, and request parameters, by their bytes
        self._plans: dict[tuple[tuple[bytes, ...], tuple[bytes, ...]], _Plan | None] = {}
        self._params_seen: dict[bytes, Mapping[str, Any]] = {}
        #: the HTTP raw path's checked JSON headers of binary requests, by their bytes
        self._http_plans: dict[bytes, HttpPlan] = {}
        self._all_wanted = tuple(RequestedOutput(n) for n in self.output_names)
        lane = (
            config.parameters["grpc_lane"].string_value
            if "grpc_lane" in config.parameters
            else "auto"
        )
        #: whether the native gRPC front end may run this model's raw requests on a lane
        #: (`_open_lane`): one instance, and no scheduling a lane would skip (queue limits,
        #: timeouts, a batching delay)
        self._lane_ok = (
            lane != "false"
            and self._raw_inputs is not None
            and len(instances) == 1
            and not self._timeouts
            and not self._max_queue
            and (not self._batching or (self._delay_ns == 0 and not self._preferred))
        )
        #: the open lane: (its front end, its id); the forms of request registered with it
        self._lane: tuple[lanes.LaneProvider, int] | None = None
        #: requests answered by lanes closed since
        self._lane_answered = 0
        #: when a lane that could not be opened may be tried again (time.monotonic)
        self._lane_retry = 0.0
        self._lane_plans: set[tuple[tuple[bytes, ...], tuple[bytes, ...], bytes]] = set()

    def _raw_specs(self) -> dict[str, tuple[TensorSpec, int, str]] | None:
        if self._decoupled or self._sequences is not None:
            return None
        specs = [*self.inputs.values(), *self.outputs.values()]
        if not self.inputs or any(s.datatype not in WIRE_ITEMSIZE or s.ragged for s in specs):
            return None
        return {
            n: (s, WIRE_ITEMSIZE[s.datatype], numpy_dtype(s.datatype).str)
            for n, s in self.inputs.items()
        }

    def submit_raw(self, payload: bytes, done: RawDone) -> bool:
        """Queue a serialized ModelInfer request undecoded when it is exactly what the model takes.

        Every input raw, of the configured datatype and shape, its bytes the shape's size, no
        parameters on any tensor (shared memory, classification), outputs the configured
        ones: the inputs go to the instance as bytes and `done` gets the serialized response.
        Anything else returns False (and the decoded path answers it, errors included). The
        tensor descriptions are checked once per distinct form (`_plan`).
        """
        if self._raw_inputs is None:
            return False
        start = time.monotonic_ns()
        scanned = scan(payload)
        if scanned is None:
            return False
        plans = self._plans
        plan_key = (scanned.inputs, scanned.outputs)
        plan = plans.get(plan_key, _UNKNOWN)
        if plan is _UNKNOWN:
            if len(plans) >= MAX_PLANS:
                plans.clear()
            plan = plans[plan_key] = self._plan(scanned.inputs, scanned.outputs)
        if plan is None:
            return False
        assert isinstance(plan, _Plan)
        raw = scanned.raw
        if len(raw) != len(plan.inputs):
            return False
        for (_, _, _, n), data in zip(plan.inputs, raw, strict=True):
            if len(data) != n:
                return False
        if self._max_queue and self.queue_length >= self._max_queue:
            return False
        try:
            self._budget.take(plan.nbytes, self.name)
        except HepinferError:
            return False  # the decoded path refuses it with the same error
        params = self._parameters(scanned.parameters) if scanned.parameters else _NO_PARAMETERS
        if params is None:
            self._budget.give(plan.nbytes)
            return False
        if self._lane_ok and (*plan_key, scanned.parameters) not in self._lane_plans:
            self._register_plan((*plan_key, scanned.parameters), plan, params)
        decoded = InferRequest(scanned.model, scanned.version, scanned.id, (), plan.wanted, params)
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = self._deadline(decoded, start) if self._timeouts else 0
        items: list[RawTensor] = [
            (name, dtype, shape, data)
            for (name, dtype, shape, _), data in zip(plan.inputs, raw, strict=True)
        ]
        self._queue.append(
            _RawPending(
                {},
                plan.batch,
                plan.key,
                decoded,
                plan.wanted,
                None,
                done,
                start,
                plan.nbytes,
                deadline,
                None,
                items,
                done,
            )
        )
        self.stats.pending += 1
        self._raw_count += 1
        if not self._batching:
            self._dispatch()
        elif not self._soon:
            self._soon = True
            after_burst(loop, self._dispatch_soon)  # with the rest of the front end's burst
        return True

    @property
    def raw_requests(self) -> int:
        """Raw requests taken so far: by `submit_raw` and by the front end's lane."""
        return self._raw_count + self.lane_requests

    @property
    def lane_requests(self) -> int:
        """Requests the native gRPC front end's lanes answered (safe from any thread)."""
        lane = self._lane
        now = 0 if lane is None else lane[0].lane_answered(lane[1])
        return self._lane_answered + now

    # ------------------------------------------------------------------ lane
    def _register_plan(
        self,
        plan_key: tuple[tuple[bytes, ...], tuple[bytes, ...], bytes],
        plan: _Plan,
        params: Mapping[str, Any],
    ) -> None:
        """Let the front end's lane take requests of this form (tensor descriptions and
        parameters, as their bytes), opening the lane first.
        """
        if self._lane is None or not self._lane[0].serving:
            self._lane = None
            self._lane_plans.clear()
            now = time.monotonic()
            if now < self._lane_retry:
                return
            self._open_lane()
            if self._lane is None:
                self._lane_retry = now + LANE_RETRY_S
                return
        if len(self._lane_plans) >= MAX_PLANS:
            self._lane_plans.clear()  # the lane keeps as many (and forgets them likewise)
        provider, lane = self._lane
        inputs, outputs, parameters = plan_key
        key = b"".join(len(b).to_bytes(4, "little") + b for b in inputs) + b"\xff"
        key += b"".join(len(b).to_bytes(4, "little") + b for b in outputs) + b"\xfe"
        key += parameters
        described = (
            tuple((name, dtype, shape) for name, dtype, shape, _ in plan.inputs),
            tuple(o.name for o in plan.wanted),
            _plain(params),
        )
        opcodes = pickle.dumps(described, 5)
        # the pickle's opcodes alone (no PROTO, FRAME, STOP): the lane's message holds them
        start = 11 if opcodes[2] == pickle.FRAME[0] else 2
        sizes = tuple(n for _, _, _, n in plan.inputs)
        provider.lane_plan(lane, key, sizes, opcodes[start:-1], plan.batch)
        self._lane_plans.add(plan_key)

    def _open_lane(self) -> None:
        """Open a lane to the instance process, if a front end offers one and it runs."""
        loop = self._loop or asyncio.get_running_loop()
        provider = lanes.provider(loop)
        if provider is None or self._finishing:
            return
        instance = self._instances[0]
        backend = instance.backend
        assert isinstance(backend, PythonModelInstance)
        process = backend.process
        if not process.alive:
            return  # being restarted: the next request opens it
        code, _ = classify_error(ServeError(""))
        status: tuple[int, str] = code.value
        lane = provider.open_lane(
            self.name,
            self.version_str,
            process.conn.out.fileno(),
            process.lane.fileno(),
            status[0],
            self._dispatch,
            lambda: self._lane_lost(process),
        )
        if not lane:
            return
        # a lane's request may call BLS (served on the loop) and the process may die idle
        process.watch(loop)
        process.serve_bls(self._bls)
        if process.on_exit is None:
            process.on_exit = lambda: self._on_exit(instance)
        self._lane = (provider, lane)

    def _lane_lost(self, process: PythonInstance) -> Exception:
        """The error of a lane's request whose instance process died (as `_exited`'s)."""
        try:
            code: int | None = process.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        self.stats.fail.add(0)
        return ServeError(
            f"the python instance process for {process.model_py} exited with code "
            f"{code} (see the server's stderr for the model's traceback)"
        )

    def _close_lane(self) -> None:
        """Close the lane (waits for the request it runs)."""
        if self._lane is not None:
            self.sync_stats()
            provider, lane = self._lane
            self._lane_answered += provider.lane_answered(lane)
            self._lane = None
            self._lane_plans.clear()
            provider.close_lane(lane)

    def sync_stats(self) -> None:
        """Add what the lane answered to the statistics."""
        if self._lane is None:
            return
        provider, lane = self._lane
        got = provider.lane_stats(lane)
        if got is None:
            return
        stats = self.stats
        n = got.success_count + got.fail_count
        if not n:
            return
        stats.success.add(got.success_ns, got.success_count)
        stats.fail.add(got.fail_ns, got.fail_count)
        stats.queue.add(0, n)
        stats.compute_input.add(got.input_ns, n)
        stats.compute_infer.add(got.infer_ns, n)
        stats.compute_output.add(0, n)
        stats.execution_count += got.executions
        stats.inference_count += got.inferences
        stats.last_inference_ms = max(stats.last_inference_ms, got.last_ms)
        for size, count, ns in got.batches:
            batch = stats.batches.get(size)
            if batch is None:
                batch = stats.batches[size] = BatchStats()
            batch.compute_input.add(0, count)
            batch.compute_infer.add(ns, count)
            batch.compute_output.add(0, count)

    def submit_http(self, body: bytes, header_length: int | None, done: HttpDone) -> bool:
        """Queue an HTTP infer request (its body) undecoded when it is what the model takes.

        The JSON header is read once per distinct header of binary requests (`http_plan`,
        kept by its bytes), the binary tensor data goes to the instance as it came, a JSON
        ``data`` input as the array it reads as; the instance writes the response body and
        `done` gets it as an `HttpBody`. Anything else returns False (the decoded path then
        answers it, errors included).
        """
        if self._raw_inputs is None:
            return False
        start = time.monotonic_ns()
        if header_length is None:
            header, binary_bytes = body, 0
        elif 0 <= header_length <= len(body):
            header, binary_bytes = body[:header_length], len(body) - header_length
        else:
            return False
        plans = self._http_plans
        plan = plans.get(header)
        if plan is None:
            plan = http_plan(header, self._raw_inputs, self.outputs, self.max_batch_size)
            if plan is None:
                return False
            if not plan.arrays:  # a header with JSON data is seldom seen twice
                if len(plans) >= MAX_PLANS:
                    plans.clear()
                plans[header] = plan
        if plan.binary_bytes != binary_bytes:
            return False
        if self._max_queue and self.queue_length >= self._max_queue:
            return False
        try:
            self._budget.take(plan.nbytes, self.name)
        except HepinferError:
            return False  # the decoded path refuses it with the same error
        self._queue_http(plan, body, len(body) - binary_bytes, done, start)
        return True

    def _queue_http(
        self, plan: HttpPlan, body: bytes, offset: int, done: HttpDone, start: int
    ) -> None:
        decoded = InferRequest(self.name, "", plan.id, (), plan.wanted, plan.parameters)
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = self._deadline(decoded, start) if self._timeouts else 0
        raw: list[RawTensor] | None = None
        if not plan.arrays:
            view = memoryview(body)
            raw = [
                (name, dtype, shape, view[offset + pos : offset + pos + n])
                for name, dtype, shape, pos, n in plan.binary
            ]
        self._queue.append(
            _RawPending(
                dict(plan.arrays),
                plan.batch,
                plan.key,
                decoded,
                plan.wanted,
                None,
                done,
                start,
                plan.nbytes,
                deadline,
                None,
                raw,
                done,
                plan.reply,
            )
        )
        self.stats.pending += 1
        self._raw_count += 1
        if not self._batching:
            self._dispatch()
        elif not self._soon:
            self._soon = True
            loop.call_soon(self._dispatch_soon)

    def _parameters(self, data: bytes) -> Mapping[str, Any] | None:
        """A request's parameters from their serialized map entries (the same ones: once);
        None when they do not parse (the decoded path then gives the error).
        """
        params = self._params_seen.get(data)
        if params is None:
            try:
                message = pb.ModelInferRequest.FromString(data)
            except DecodeError:
                return None
            params = MappingProxyType(parameters_dict(message.parameters))
            if len(self._params_seen) >= MAX_PLANS:
                self._params_seen.clear()
            self._params_seen[data] = params
        return params

    def _plan(self, inputs: tuple[bytes, ...], outputs: tuple[bytes, ...]) -> _Plan | None:
        """What requests with these tensor descriptions need, or None when they cannot take
        the raw path (each check as the decoded path's, which then gives the error).
        """
        specs = self._raw_inputs
        assert specs is not None
        if len(inputs) != len(specs):
            return None
        try:
            tensors = [_INPUT.FromString(b) for b in inputs]
            requested = [_OUTPUT.FromString(b) for b in outputs]
        except DecodeError:
            return None
        batched = self.max_batch_size > 0
        batch = 0
        items: list[tuple[str, str, tuple[int, ...], int]] = []
        key: list[tuple[int, ...]] = []
        for t in tensors:
            entry = specs.get(t.name)
            if entry is None or t.datatype != entry[0].datatype or t.parameters:
                return None
            if t.HasField("contents"):
                return None
            shape = tuple(t.shape)
            if any(d < 0 for d in shape):
                return None
            if batched:
                if not shape or (batch and shape[0] != batch):
                    return None
                batch = shape[0]
                dims = shape[1:]
            else:
                dims = shape
            spec, itemsize, dtype = entry
            if not spec.matches(dims):
                return None
            items.append((t.name, dtype, shape, int(np.prod(shape, dtype=np.int64)) * itemsize))
            key.append(dims)
        if len({t.name for t in tensors}) != len(specs):
            return None
        if batched and not 1 <= batch <= self.max_batch_size:
            return None
        if any(o.name not in self.outputs or o.parameters for o in requested):
            return None
        wanted = tuple(RequestedOutput(o.name) for o in requested) or self._all_wanted
        nbytes = sum(n for _, _, _, n in items)
        return _Plan(tuple(items), tuple(key), batch or 1, wanted, nbytes)

    def submit(self, request: InferRequest, shm: SharedMemoryManager | None, done: Done) -> None:
        """As `ServedModel.submit`; a decoupled model takes only streamed requests."""
        if self._decoupled and not isinstance(done, ResponseStream):
            msg = (
                f"ModelInfer RPC doesn't support models with decoupled transaction policy: "
                f"model '{self.name}' answers with any number of responses; send the request "
                "on ModelStreamInfer (tritonclient: start_stream + async_stream_infer)"
            )
            done(None, ProtocolError(msg))
            return
        super().submit(request, shm, done)

    def _dispatch_ready(self) -> None:
        """Without batching, every waiting request (at most `_max_requests`) goes to one
        ``execute`` call, as a list: one round trip to the process for all of them.

        Triton hands such a model one request per call; ``execute`` takes a list either way,
        and the ``execute_max_requests`` config parameter set to 1 restores that behaviour.
        """
        lane = self._lane
        if lane is not None and self._queue and self._free and not lane[0].lane_acquire(lane[1]):
            return  # the lane runs a request: its end dispatches again (`open_lane`'s on_free)
        if self._batching:
            super()._dispatch_ready()
        else:
            queue = self._queue
            while self._free and queue:
                group = [queue.popleft() for _ in range(min(len(queue), self._max_requests))]
                self._launch(self._free.pop(), group)
        if lane is not None and len(self._free) == len(self._instances):
            lane[0].lane_release(lane[1])  # idle: the lane may take requests

    def _launch(self, instance: _Instance, group: list[_Pending]) -> None:
        """Send the group to the instance process; its answer completes it on the loop.

        No thread hand-off: the instance's socket is read by the event loop.
        """
        now = time.monotonic_ns()
        for p in group:
            self.stats.queue.add(now - p.enqueued)
        backend = instance.backend
        assert isinstance(backend, PythonModelInstance)
        loop = self._loop
        assert loop is not None
        process = backend.process
        tokens = [next(self._tokens) if self._decoupled else 0 for _ in group]
        requests = [
            PyRequest(
                p.request.id,
                _plain(p.request.parameters),
                p.arrays,
                [o.name for o in p.wanted],
                token,
                p.raw if isinstance(p, _RawPending) else None,
                p.reply if isinstance(p, _RawPending) else False,
            )
            for p, token in zip(group, tokens, strict=True)
        ]
        if process.on_exit is None:
            process.on_exit = lambda: self._on_exit(instance)
        if self._decoupled:
            process.on_response = self._on_response
            for p, token in zip(group, tokens, strict=True):
                self._open[token] = (p, instance)
        total = sum(p.batch for p in group)
        t1 = time.monotonic_ns()
        answered = [False]  # whether the answer came inside `submit` (an inline wait)

        def done(results: list[Result] | None, exc: Exception | None) -> None:
            answered[0] = True
            if self._decoupled:  # requests failed here are answered by _complete
                for token, r in zip(tokens, results or [""] * len(tokens), strict=True):
                    if r is not None:
                        self._open.pop(token, None)
            if exc is not None or results is None:
                self._complete(instance, group, None, exc)
                return
            t2 = time.monotonic_ns()
            self._round_trip_ema_ns += (t2 - t1 - self._round_trip_ema_ns) // 8
            per_request = [self._per_request(r) for r in results]
            self._complete(instance, group, (per_request, total, t1 - now, t2 - t1, 0), None)

        # waiting only pays for a lone request: under load the loop has other work meanwhile
        lone = (
            self._wait_inline
            and len(group) == 1
            and not self._queue
            and self._round_trip_ema_ns < INLINE_WAIT_NS
        )
        # a wait that sleeps on the loop's own descriptor holds no CPU: taken at any load,
        # unless such waits have just been ended by other work (requests come faster)
        wake = self._loop_fd(loop) if lone else None
        if wake is not None and not self._take_wait():
            wake, lone = None, False
        wait_s = (
            INLINE_WAIT_NS / 1e9 if lone and (wake is not None or self._cpu_to_spare()) else 0.0
        )
        if wait_s and self._arrivals is None:
            self._arrivals = arrivals(loop)  # None until a front end counts on this loop
        try:
            process.watch(loop)
            process.submit(requests, done, self._bls, wait_s, self._arrivals, wake)
        except OSError as exc:  # the send failed: the process may have died idle
            if not self._requeue_undelivered(instance, group, tokens):
                self._complete(instance, group, None, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the batch fails
            self._complete(instance, group, None, exc)
            return
        if wake is not None and wait_s:
            self._waited(answered[0])

    def _requeue_undelivered(
        self, instance: _Instance, group: list[_Pending], tokens: list[int]
    ) -> bool:
        """A batch whose send failed because the instance process had died (while idle, or
        after a lane's request, before the loop saw its socket close): nothing ran, so its
        requests go back to the front of the queue and the restarted process answers them.
        False (the batch fails) when the process still runs; the native lane's write fails
        the same way and hands its request to this path.
        """
        backend = instance.backend
        assert isinstance(backend, PythonModelInstance)
        try:  # its socket closed as it exited: the exit status follows at once
            backend.process.process.wait(UNDELIVERED_WAIT_S)
        except subprocess.TimeoutExpired:
            return False
        for token in tokens:
            self._open.pop(token, None)
        self._queue.extendleft(reversed(group))
        log.warning(
            "model %s: instance process %s had died before its batch of %d request(s) was "
            "sent; the requests wait for the restarted process",
            self.name,
            backend.name,
            len(group),
        )
        self._release(instance)  # starts it again; `_restarted` dispatches the queue
        return True

    def _take_wait(self) -> bool:
        """Whether a lone request's batch may sleep for its answer now (`_waited`)."""
        if self._skip_waits:
            self._skip_waits -= 1
            return False
        return True

    def _waited(self, answered: bool) -> None:
        """A sleeping wait ended: without its answer (the loop had other work, e.g. the
        next request), the next `SKIP_WAITS` lone batches go without one, since each such
        wait only adds a wake-up while requests arrive faster than answers.
        """
        if not answered:
            self._skip_waits = SKIP_WAITS

    def _loop_fd(self, loop: asyncio.AbstractEventLoop) -> int | None:
        """The loop's descriptor for the sleeping inline wait (None: spin, or do not wait).

        The ``execute_inline`` parameter ``"spin"`` keeps the polling wait of before.
        """
        if self._spin:
            return None
        if self._wake_loop is not loop:
            self._wake_loop, self._wake_fd = loop, loop_fd(loop)
        return self._wake_fd

    def _cpu_to_spare(self) -> bool:
        """Whether the machine has idle CPUs for an inline wait (looked up once a second).

        The wait holds the loop's CPU while the instance process works; on a machine whose
        runnable tasks fill its CPUs (1-minute load average above half the CPU count) that
        CPU is what the process, or the next request, is waiting for, and the answer comes
        sooner through the loop. The ``execute_inline`` parameter ``"true"`` waits always.
        """
        if self._force_wait:
            return True
        now = time.monotonic()
        if now >= self._load_checked + LOAD_CHECK_S:
            self._load_checked = now
            self._spare = self._loadavg()[0] <= (os.cpu_count() or 1) / 2
        return self._spare

    def _per_request(self, result: Result) -> dict[str, np.ndarray]:
        if isinstance(result, dict):
            return result
        if isinstance(result, bytes | HttpBody):
            return _Encoded(result)
        if result is None:
            if self._decoupled:
                return _Open()
            return _Failed("the model's execute gave no response for the request")
        return _Failed(result)

    def _on_response(
        self, token: int, outputs: dict[str, np.ndarray] | None, error: str | None, flags: int
    ) -> None:
        """One response of a decoupled request (on the loop): to its stream."""
        final = bool(flags & _FINAL)
        entry = self._open.pop(token, None) if final else self._open.get(token)
        if entry is None:
            return  # the request already failed (its process died, or it was unloaded)
        p, _ = entry
        stream = p.done
        assert isinstance(stream, ResponseStream)
        response: InferResponse | None = None
        exc: Exception | None = None
        if error is not None:
            exc = ServeError(error)
        elif outputs is not None:
            try:
                made = tuple(
                    self._make_output(o, outputs, p.shm) for o in p.wanted if o.name in outputs
                )
            except Exception as problem:  # noqa: BLE001 - the client gets it in the stream
                exc = problem
            else:
                response = InferResponse(self.name, self.version_str, p.request.id, made)
        if final:
            self._settle(p)
            stat = self.stats.fail if exc is not None else self.stats.success
            stat.add(time.monotonic_ns() - p.enqueued)
        try:
            stream.emit(response, exc, final)
        except Exception:
            log.exception("a streamed response's callback failed")

    def _fail_open(self, instance: _Instance | None, error: ServeError) -> None:
        """End the decoupled requests still open (those `instance` ran; all for None)."""
        for token, (p, inst) in list(self._open.items()):
            if instance is None or inst is instance:
                del self._open[token]
                self._fail(p, error)

    def _on_exit(self, instance: _Instance) -> None:
        """An idle instance's process died (a decoupled model's thread may have been at work)."""
        if instance in self._free:
            self._free.remove(instance)
            self._release(instance)

    def _release(self, instance: _Instance) -> None:
        """Give the instance back, or start its process again when it died (off the loop)."""
        backend = instance.backend
        assert isinstance(backend, PythonModelInstance)
        if backend.process.alive:
            self._free.append(instance)
            return
        self._close_lane()  # before the process's sockets close; reopened after the restart
        backend.process.unwatch()
        code = backend.process.process.returncode
        self._fail_open(
            instance,
            ServeError(
                f"model '{self.name}': instance process {backend.name} died (exit code {code}) "
                "with the request open; the process is being restarted, send the request again"
            ),
        )
        if self._finishing or self._loop is None:
            return
        log.warning(
            "model %s: instance process %s died (exit code %s); starting it again",
            self.name,
            backend.name,
            code,
        )
        future = self._loop.run_in_executor(instance.executor, backend.restart)
        future.add_done_callback(lambda f: self._restarted(instance, f))

    def _restarted(self, instance: _Instance, future: asyncio.Future[None]) -> None:
        exc = future.exception()
        if exc is not None:
            log.error(
                "model %s: restarting instance %s failed (%s); trying again in %.0f s",
                self.name,
                instance.name,
                exc,
                RESTART_RETRY_S,
            )
            if self._loop is not None and not self._finishing:
                self._loop.call_later(RESTART_RETRY_S, self._release, instance)
            return
        self._free.append(instance)
        self._lane_retry = 0.0  # the next raw request opens a lane to the new process
        self._dispatch()

    async def finish(self, timeout_s: float = 30.0) -> None:
        """Answer what was accepted, then stop reading the instance processes on the loop."""
        if self._lane is not None:
            self.sync_stats()
            provider, lane = self._lane
            self._lane_answered += provider.lane_answered(lane)
            self._lane = None
            # off the loop: a request the lane runs may wait for a BLS call the loop serves
            await asyncio.get_running_loop().run_in_executor(None, provider.close_lane, lane)
        self._finishing = True
        await super().finish(timeout_s)
        self._fail_open(
            None, ServeError(f"model '{self.name}' was unloaded while the request was open")
        )
        for inst in self._instances:
            backend = inst.backend
            if isinstance(backend, PythonModelInstance):
                backend.process.unwatch()

    def _complete(
        self,
        instance: _Instance,
        group: list[_Pending],
        result: _Result | None,
        exc: BaseException | None,
    ) -> None:
        """As `ServedModel._complete`, but the next batch goes to the process first.

        The instance process then runs it while the loop encodes this batch's responses (the
        outputs were already copied out of the arena, so it may be reused at once).
        """
        if result is not None:
            self._free.append(instance)  # it just answered (a death later reads as EOF)
        else:
            self._release(instance)
        self.stats.pending -= len(group)
        self._dispatch()
        if exc is not None or result is None:
            error = (
                exc if isinstance(exc, ServeError) else ServeError(f"model '{self.name}': {exc}")
            )
            for p in group:
                self._fail(p, error)
            return
        per_request, total, t_in, t_infer, t_out = result
        self.stats.record_batch(total, len(group), t_in, t_infer, t_out)
        for p, res in zip(group, per_request, strict=True):
            self._answer(p, res)

    def _answer(self, p: _Pending, results: dict[str, np.ndarray]) -> None:
        if isinstance(results, _Encoded):
            self._settle(p)
            self.stats.success.add(time.monotonic_ns() - p.enqueued)
            self.stats.last_inference_ms = time.time_ns() // 1_000_000
            assert isinstance(p, _RawPending)
            assert p.answer is not None
            try:
                p.answer(results.data, None)
            except Exception:
                log.exception("a request's completion callback failed")
            return
        if isinstance(results, _Open):
            return  # answered through its response sender
        if isinstance(results, _Failed):
            self._fail(p, ServeError(results.error))
            return
        missing = [o.name for o in p.wanted if o.name not in results]
        if missing:
            msg = (
                f"model '{self.name}': the response of execute lacks the requested output(s) "
                f"{missing}; return a pb_utils.Tensor for each"
            )
            self._fail(p, ServeError(msg))
            return
        super()._answer(p, results)

    def _bls(
        self,
        model: str,
        version: str,
        inputs: dict[str, np.ndarray],
        outputs: list[str],
        parameters: str,
        reply: BlsReply,
    ) -> None:
        """Start a BLS request on the server (on the loop); `reply` gets its outputs."""
        resolver = self._resolver
        if resolver is None:
            reply(None, f"model '{self.name}': BLS needs a server with a model repository")
            return
        try:
            request = InferRequest(
                model,
                version,
                "",
                tuple(InferInput(n, wire_datatype(a.dtype), a.shape, a) for n, a in inputs.items()),
                tuple(RequestedOutput(o) for o in outputs),
                json.loads(parameters) if parameters else {},
            )
            target = resolver(model, version)
        except Exception as exc:  # noqa: BLE001 - the model gets the error in its response
            reply(None, str(exc))
            return

        def done(response: InferResponse | None, exc: Exception | None) -> None:
            if response is None:
                reply(None, str(exc))
            else:
                reply({o.name: o.data for o in response.outputs}, None)

        target.submit(request, None, done)
