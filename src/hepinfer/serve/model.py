"""A served model version: its instances, its scheduler (dynamic batcher) and its statistics.

Hot path: requests are validated and queued on the event loop; a batch is formed on the loop
and handed to a free instance's single executor thread (one hop per batch, not per request);
the completion callback splits outputs back to the waiting requests on the loop. A model
whose batches take less than `INLINE_BELOW_NS` (measured) runs on the loop itself, with no
hop at all; the ``execute_inline`` config parameter (``auto``, ``true``, ``false``) decides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ProtocolError, QueueFullError, ServeError
from hepinfer.protocol.dtypes import numpy_dtype
from hepinfer.protocol.messages import InferOutput, InferRequest, InferResponse, RequestedOutput
from hepinfer.protocol.tensors import encode_raw
from hepinfer.serve.backends.base import ModelInstance
from hepinfer.serve.budget import MemoryBudget, request_bytes
from hepinfer.serve.sequence import LiveSequence, SequenceBatcher
from hepinfer.serve.shm import SharedMemoryManager
from hepinfer.serve.stats import ModelStats
from hepinfer.serve.validate import TensorSpec, check_byte_size, validate_inputs

log = logging.getLogger(__name__)

_BATCH_SCATTER = mc.BatchOutput.BATCH_SCATTER_WITH_INPUT_SHAPE


#: called once with the response, or with the error, of a submitted request
Done = Callable[[InferResponse | None, Exception | None], None]
#: as `Done` for `ServedModel.submit_raw`: the response may come already serialized (bytes of
#: an ``inference.ModelInferResponse``)
RawDone = Callable[[bytes | InferResponse | None, Exception | None], None]


@dataclass(slots=True)
class _Pending:
    arrays: dict[str, np.ndarray]
    batch: int
    key: tuple[tuple[int, ...], ...]
    request: InferRequest
    wanted: Sequence[RequestedOutput]
    shm: SharedMemoryManager | None
    done: Done
    enqueued: int
    nbytes: int
    deadline: int  #: monotonic ns after which the queue policy times it out (0: never)
    seq: LiveSequence | None = None  #: its sequence (sequence batching)


#: per-request outputs, batch size, compute input/infer/output ns
_Result = tuple[list[dict[str, np.ndarray]], int, int, int, int]

#: a model whose batches take less than this runs on the event loop (no thread hand-off)
INLINE_BELOW_NS = 100_000


@dataclass(slots=True)
class _Instance:
    name: str
    backend: ModelInstance
    executor: ThreadPoolExecutor


def _call(done: Done, response: InferResponse | None, exc: Exception | None) -> None:
    """Run a completion callback; one failing callback must not cost the batch the others."""
    try:
        done(response, exc)
    except Exception:
        log.exception("a request's completion callback failed")


def classify(array: np.ndarray, count: int, labels: Sequence[str], batched: bool) -> np.ndarray:
    """Triton's classification extension: top `count` as ``"value:index[:label]"`` strings."""
    if array.dtype.kind not in "biuf":
        msg = (
            f"classification needs a numeric output, not {array.dtype} data; ask for it on "
            "a numeric output or drop the 'classification' parameter"
        )
        raise ProtocolError(msg)
    rows = array.reshape(array.shape[0], -1) if batched and array.ndim else array.reshape(1, -1)
    k = min(count, rows.shape[1])
    order = np.argsort(-rows.astype(np.float64), axis=1, kind="stable")[:, :k]
    out = np.empty((rows.shape[0], k), dtype=np.object_)
    for r in range(rows.shape[0]):
        for j in range(k):
            i = int(order[r, j])
            text = f"{float(rows[r, i]):f}:{i}"
            if i < len(labels):
                text += f":{labels[i]}"
            out[r, j] = text.encode()
    return out if batched else out.reshape(k)


class ServedModel:
    """One loaded version of a model: validation, dynamic batching, execution, statistics."""

    def __init__(
        self,
        config: mc.ModelConfig,
        version: int,
        instances: Sequence[ModelInstance],
        labels: dict[str, list[str]],
        path: Path,
        budget: MemoryBudget | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.version = version
        self.version_str = str(version)
        self.path = path
        self.max_batch_size = config.max_batch_size
        self.inputs = {t.name: TensorSpec.from_config(t) for t in config.input}
        self.outputs = {t.name: TensorSpec.from_config(t) for t in config.output}
        self.output_names = list(self.outputs)
        self._out_dtypes = {n: numpy_dtype(s.datatype) for n, s in self.outputs.items()}
        self.labels = labels
        self.stats = ModelStats(self.name, self.version_str)
        self._batching = config.HasField("dynamic_batching") and self.max_batch_size > 0
        db = config.dynamic_batching
        self._delay_ns = db.max_queue_delay_microseconds * 1000
        self._preferred = frozenset(db.preferred_batch_size)
        self._target = max(self._preferred) if self._preferred else self.max_batch_size
        self._budget = budget or MemoryBudget(0)
        policy = db.default_queue_policy
        self._max_queue = policy.max_queue_size if self._batching else 0
        self._timeout_ns = policy.default_timeout_microseconds * 1000 if self._batching else 0
        self._timeout_override = self._batching and policy.allow_timeout_override
        self._delay_on_timeout = policy.timeout_action == mc.ModelQueuePolicy.DELAY
        self._timeouts = bool(self._timeout_ns or self._timeout_override)
        self._delayed: deque[_Pending] = deque()  # timed out, DELAY action: served last
        self._sequences: SequenceBatcher | None = None
        self._run_outputs = self.output_names
        if config.HasField("sequence_batching"):
            self._sequences = SequenceBatcher(config, path.parent.parent)
            if self._sequences.states and config.backend == "python":
                msg = (
                    f"model '{self.name}': implicit state (sequence_batching state) is not "
                    "supported for python-backend models; keep the state in the model"
                )
                raise ServeError(msg)
            self._run_outputs = [*self.output_names, *self._sequences.state_outputs]
            self._delay_ns = self._sequences.delay_ns
            self._preferred = self._sequences.preferred
            self._target = max(self._preferred) if self._preferred else self.max_batch_size
        self._ragged = [s.name for s in self.inputs.values() if s.ragged]
        self._scatter = {
            target: bo.source_input[0]
            for bo in config.batch_output
            if bo.kind == _BATCH_SCATTER and bo.source_input
            for target in bo.target_name
        }
        self._instances = [
            _Instance(
                f"{self.name}_{i}",
                inst,
                ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-{version}-{i}"),
            )
            for i, inst in enumerate(instances)
        ]
        self._free = list(self._instances)
        # inline execution: only with one instance (threads give parallel instances), and
        # only once measured fast; the EMA starts high so the first batches use the thread
        inline = (
            config.parameters["execute_inline"].string_value
            if "execute_inline" in config.parameters
            else "auto"
        )
        self._inline_ok = len(self._instances) == 1 and inline != "false"
        self._force_inline = self._inline_ok and inline == "true"
        self._infer_ema_ns = 10 * INLINE_BELOW_NS
        self._queue: deque[_Pending] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._dispatching = False
        self._soon = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finishing = False  # retiring: queued requests run without waiting for a batch

    # ------------------------------------------------------------------ request path
    async def infer(self, request: InferRequest, shm: SharedMemoryManager | None) -> InferResponse:
        """Validate, queue, run and answer one request (errors raise ProtocolError/ServeError)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[InferResponse] = loop.create_future()

        def done(response: InferResponse | None, exc: Exception | None) -> None:
            if future.done():
                return  # the caller went away
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(response)  # type: ignore[arg-type]

        self.submit(request, shm, done)
        return await future

    def submit(self, request: InferRequest, shm: SharedMemoryManager | None, done: Done) -> None:
        """Validate and queue one request; `done` gets its response or error, on the loop.

        The callback form of `infer` (no task or future per request): the native gRPC front
        end answers a whole batch of requests from inside the batch's completion.
        """
        start = time.monotonic_ns()
        try:
            if self._max_queue and self.queue_length >= self._max_queue:
                msg = (
                    f"Exceeds maximum queue size: model '{self.name}' has "
                    f"{self.queue_length} requests queued (max_queue_size "
                    f"{self._max_queue})"
                )
                raise QueueFullError(msg)
            arrays = self._input_arrays(request, shm)
            batch = validate_inputs(request, self.inputs, arrays, self.max_batch_size)
            wanted = self._wanted_outputs(request)
            nbytes = request_bytes(arrays)
            self._budget.take(nbytes, self.name)
            seq = None
            if self._sequences is not None:
                try:
                    seq = self._sequences.admit(request, arrays, batch)
                except Exception:
                    self._budget.give(nbytes)
                    raise
        except Exception as exc:
            self.stats.fail.add(time.monotonic_ns() - start)
            done(None, exc)
            return
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        key = tuple(a.shape[1:] for n, a in arrays.items() if n not in self._ragged)
        deadline = self._deadline(request, start) if self._timeouts else 0
        self._queue.append(
            _Pending(arrays, batch, key, request, wanted, shm, done, start, nbytes, deadline, seq)
        )
        self.stats.pending += 1
        if not self._batching and self._sequences is None:
            self._dispatch()  # run now if an instance is free, else queue
        elif not self._soon:
            # batch what arrives in this loop iteration (a burst the gRPC front end hands
            # over at once): dispatch in the next one; with a queue delay, the timer
            # then waits for more
            self._soon = True
            loop.call_soon(self._dispatch_soon)

    def submit_raw(self, payload: bytes, done: RawDone) -> bool:  # noqa: ARG002
        """Take a serialized ModelInferRequest undecoded, if this model can (the python
        backend can); False leaves it to `submit`, after decoding (errors come from there).
        """
        return False

    def submit_http(
        self,
        body: bytes,  # noqa: ARG002
        header_length: int | None,  # noqa: ARG002
        done: Callable[[Any, Exception | None], None],  # noqa: ARG002
    ) -> bool:
        """Take an HTTP infer request's body undecoded, if this model can (the python backend
        can); False leaves it to `infer`, after decoding (errors come from there).
        """
        return False

    def _deadline(self, request: InferRequest, start: int) -> int:
        """When the queue policy times the request out (monotonic ns; 0: never)."""
        timeout_ns = self._timeout_ns
        if self._timeout_override and "timeout" in request.parameters:
            try:
                timeout_ns = int(request.parameters["timeout"]) * 1000
            except (TypeError, ValueError):
                timeout_ns = self._timeout_ns
        return start + timeout_ns if timeout_ns > 0 else 0

    def _expire(self, now: int) -> None:
        """Apply the queue policy's timeout to the waiting requests (REJECT or DELAY)."""
        queue = self._queue
        if not any(p.deadline and p.deadline <= now for p in queue):
            return
        keep: deque[_Pending] = deque()
        for p in queue:
            if not p.deadline or p.deadline > now:
                keep.append(p)
            elif self._delay_on_timeout:
                p.deadline = 0
                self._delayed.append(p)
            else:
                self.stats.pending -= 1
                msg = (
                    f"Request timeout expired: the request waited {(now - p.enqueued) // 1000} "
                    f"us in the queue of model '{self.name}' (default_timeout_microseconds "
                    f"{self._timeout_ns // 1000})"
                )
                self._fail(p, QueueFullError(msg))
        self._queue = keep

    def _answer(self, p: _Pending, results: dict[str, np.ndarray]) -> None:
        """Build the response of one finished request and hand it to its callback."""
        self._settle(p)
        try:
            outputs = tuple(self._make_output(o, results, p.shm) for o in p.wanted)
        except Exception as exc:
            self._fail(p, exc)
            return
        now = time.monotonic_ns()
        self.stats.success.add(now - p.enqueued)
        self.stats.last_inference_ms = time.time_ns() // 1_000_000
        _call(p.done, InferResponse(self.name, self.version_str, p.request.id, outputs), None)

    def _settle(self, p: _Pending) -> None:
        """Give the request's bytes back to the budget, and count it out of its sequence (once)."""
        self._budget.give(p.nbytes)
        p.nbytes = 0
        if p.seq is not None:
            p.seq.pending -= 1
            p.seq = None

    def _fail(self, p: _Pending, exc: Exception) -> None:
        self._settle(p)
        self.stats.fail.add(time.monotonic_ns() - p.enqueued)
        _call(p.done, None, exc)

    def _input_arrays(
        self, request: InferRequest, shm: SharedMemoryManager | None
    ) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for inp in request.inputs:
            if inp.data is not None:
                arrays[inp.name] = inp.data
                continue
            if shm is None or inp.shm is None:
                msg = "shared memory is not enabled on this server (start it with --enable-shm)"
                raise ProtocolError(msg)
            check_byte_size(inp.name, inp.datatype, inp.shape, inp.shm.byte_size)
            arrays[inp.name] = shm.read(inp.shm, inp.datatype, inp.shape)
        return arrays

    def _wanted_outputs(self, request: InferRequest) -> Sequence[RequestedOutput]:
        if not request.outputs:
            return [RequestedOutput(n) for n in self.output_names]
        for out in request.outputs:
            if out.name not in self.outputs:
                msg = (
                    f"unexpected inference output '{out.name}' for model '{self.name}'; it "
                    f"has {', '.join(repr(n) for n in self.outputs)}"
                )
                raise ProtocolError(msg)
        return request.outputs

    def _make_output(
        self,
        out: RequestedOutput,
        results: dict[str, np.ndarray],
        shm: SharedMemoryManager | None,
    ) -> InferOutput:
        spec = self.outputs[out.name]
        data = results[out.name]
        datatype = spec.datatype
        if data.dtype != self._out_dtypes[out.name] and datatype != "BYTES":
            data = data.astype(self._out_dtypes[out.name])  # model and config disagree
        if out.class_count:
            labels = self.labels.get(out.name, [])
            data = classify(data, out.class_count, labels, self.max_batch_size > 0)
            datatype = "BYTES"
        if out.shm is not None:
            if shm is None:
                msg = "shared memory is not enabled on this server (start it with --enable-shm)"
                raise ProtocolError(msg)
            shm.write(out.shm, encode_raw(data))
        return InferOutput(out.name, datatype, data, out.shm)

    # ------------------------------------------------------------------ scheduler
    def _dispatch_soon(self) -> None:
        self._soon = False
        self._dispatch()

    def _dispatch(self) -> None:
        if self._dispatching:
            return  # an inline batch completed inside the loop below, which goes on
        self._dispatching = True
        try:
            self._dispatch_ready()
        finally:
            self._dispatching = False

    def _dispatch_sequences(self, sequences: SequenceBatcher) -> None:
        """Sequence batching: a batch holds at most one request per sequence, a sequence's
        requests run one after the other (each reads the state the one before wrote), and
        requests of different sequences are batched (up to max_batch_size, preferred sizes,
        the strategy's max_queue_delay_microseconds).
        """
        queue = self._queue
        limit = max(self.max_batch_size, 1)
        while self._free and queue:
            group: list[_Pending] = []
            seen: set[int] = set()
            total = 0
            for p in queue:
                seq = p.seq
                key = id(seq)
                if seq is None or seq.busy or key in seen:
                    seen.add(key)  # its later requests wait for it too
                    continue
                seen.add(key)
                if group and (p.key != group[0].key or total + p.batch > limit):
                    continue
                group.append(p)
                total += p.batch
                if total >= limit:
                    break
            if not group:
                return
            ready = (
                limit == 1
                or total >= self._target
                or total in self._preferred
                or self._delay_ns == 0
                or self._finishing
            )
            if not ready:
                waited = time.monotonic_ns() - group[0].enqueued
                if waited < self._delay_ns:
                    self._arm_timer((self._delay_ns - waited) / 1e9)
                    return
            chosen = {id(p) for p in group}
            self._queue = queue = deque(p for p in queue if id(p) not in chosen)
            for p in group:
                assert p.seq is not None
                p.seq.busy = True
                sequences.feed_state(p.seq, p.arrays, p.batch)
            self._launch(self._free.pop(), group)

    def _dispatch_ready(self) -> None:
        if self._sequences is not None:
            self._dispatch_sequences(self._sequences)
            return
        if self._timeouts:
            self._expire(time.monotonic_ns())
        if not self._queue and self._delayed:
            self._queue, self._delayed = self._delayed, self._queue
        queue = self._queue
        while self._free and queue:
            head = queue[0]
            if self._batching:
                group = [head]
                total = head.batch
                blocked = False
                for p in queue:
                    if p is head:
                        continue
                    if p.key != head.key or total + p.batch > self.max_batch_size:
                        blocked = True
                        break
                    group.append(p)
                    total += p.batch
                ready = (
                    blocked
                    or total >= self._target
                    or total in self._preferred
                    or self._delay_ns == 0
                    or self._finishing
                )
                if not ready:
                    now = time.monotonic_ns()
                    waited = now - head.enqueued
                    if waited < self._delay_ns:
                        wake = self._delay_ns - waited
                        deadlines = [p.deadline for p in queue if p.deadline]
                        if deadlines:  # wake up for the first timeout too
                            wake = max(0, min(wake, min(deadlines) - now))
                        self._arm_timer(wake / 1e9)
                        return
                for _ in group:
                    queue.popleft()
            else:
                group = [queue.popleft()]
            self._launch(self._free.pop(), group)

    def _arm_timer(self, delay_s: float) -> None:
        if self._timer is not None or self._loop is None:
            return
        self._timer = self._loop.call_later(delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    def _launch(self, instance: _Instance, group: list[_Pending]) -> None:
        now = time.monotonic_ns()
        stats = self.stats
        for p in group:
            stats.queue.add(now - p.enqueued)
        if self._inline_ok and (self._force_inline or self._infer_ema_ns < INLINE_BELOW_NS):
            # a tiny model: running it here is cheaper than two thread hand-offs
            try:
                result = self._execute(instance.backend, group)
            except Exception as exc:
                self._complete(instance, group, None, exc)
            else:
                self._complete(instance, group, result, None)
            return
        future = instance.executor.submit(self._execute, instance.backend, group)
        loop = self._loop
        assert loop is not None
        future.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._done, instance, group, f)
        )

    def _done(
        self, instance: _Instance, group: list[_Pending], future: ThreadFuture[_Result]
    ) -> None:
        exc = future.exception()
        self._complete(instance, group, None if exc else future.result(), exc)

    def _execute(self, backend: ModelInstance, group: list[_Pending]) -> _Result:
        """Runs in the instance's thread: gather the batch, run it, scatter the results."""
        t0 = time.monotonic_ns()
        if len(group) == 1:
            feed = group[0].arrays
        else:
            feed = {
                name: np.concatenate(
                    [
                        p.arrays[name].reshape(-1) if name in self._ragged else p.arrays[name]
                        for p in group
                    ]
                )
                for name in group[0].arrays
            }
        if len(group) == 1 and self._ragged:
            feed = {n: (a.reshape(-1) if n in self._ragged else a) for n, a in feed.items()}
        total = sum(p.batch for p in group)
        t1 = time.monotonic_ns()
        result = backend.run(feed, self._run_outputs)
        t2 = time.monotonic_ns()
        per_request = self._scatter_outputs(group, result)
        t3 = time.monotonic_ns()
        return per_request, total, t1 - t0, t2 - t1, t3 - t2

    def _scatter_outputs(
        self, group: list[_Pending], result: dict[str, np.ndarray]
    ) -> list[dict[str, np.ndarray]]:
        out: list[dict[str, np.ndarray]] = [{} for _ in group]
        for name, value in result.items():
            array = np.asarray(value)
            source = self._scatter.get(name)
            if source is not None:
                pos = 0
                for i, p in enumerate(group):
                    shape = p.arrays[source].shape
                    n = int(np.prod(shape))
                    out[i][name] = array.reshape(-1)[pos : pos + n].reshape(shape)
                    pos += n
            elif len(group) == 1:
                out[0][name] = array
            else:
                pos = 0
                for i, p in enumerate(group):
                    out[i][name] = array[pos : pos + p.batch]
                    pos += p.batch
        return out

    def _complete(
        self,
        instance: _Instance,
        group: list[_Pending],
        result: _Result | None,
        exc: BaseException | None,
    ) -> None:
        self._free.append(instance)
        self.stats.pending -= len(group)
        if self._sequences is not None:
            problem = self._sequence_results(group, result)
            if problem is not None:
                exc, result = problem, None
        if exc is not None or result is None:
            if isinstance(exc, ServeError | ProtocolError):
                error: Exception = exc
            else:
                error = ServeError(f"model '{self.name}' version {self.version}: {exc}")
                log.warning("inference failed for model %s: %s", self.name, exc)
            for p in group:
                self._fail(p, error)
        else:
            per_request, total, t_in, t_infer, t_out = result
            self._infer_ema_ns += (t_infer - self._infer_ema_ns) // 8
            self.stats.record_batch(total, len(group), t_in, t_infer, t_out)
            for p, res in zip(group, per_request, strict=True):
                self._answer(p, res)
        self._dispatch()

    def _sequence_results(self, group: list[_Pending], result: _Result | None) -> Exception | None:
        """Free the group's sequences and keep their new state (before answering); the
        error when the model did not produce a state output.
        """
        assert self._sequences is not None
        problem: Exception | None = None
        for i, p in enumerate(group):
            if p.seq is None:
                continue
            p.seq.busy = False
            if result is not None and self._sequences.states:
                try:
                    self._sequences.keep_state(p.seq, result[0][i])
                except ServeError as exc:
                    problem = exc
        return problem

    def sync_stats(self) -> None:
        """Bring `stats` up to date before it is read (requests counted elsewhere: lanes)."""

    # ------------------------------------------------------------------ life cycle
    @property
    def queue_length(self) -> int:
        """Requests waiting for an instance."""
        return len(self._queue) + len(self._delayed)

    async def finish(self, timeout_s: float = 30.0) -> None:
        """Run every queued request and wait for running batches (on the event loop).

        Called when this version leaves the repository (reload, unload, stop): no new request
        reaches it, and the ones it accepted are answered by it, as in Triton. Requests still
        queued after `timeout_s` fail (`drain`).
        """
        self._finishing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = time.monotonic() + timeout_s
        while self._queue or self._delayed or len(self._free) < len(self._instances):
            if time.monotonic() > deadline:
                log.warning(
                    "model %s version %s: %d queued requests did not finish in %.0f s",
                    self.name,
                    self.version,
                    len(self._queue),
                    timeout_s,
                )
                break
            if (self._queue or self._delayed) and self._loop is not None:
                self._dispatch()
            await asyncio.sleep(0.001)
        self.drain()

    def drain(self) -> None:
        """Fail the requests still queued (call on the event loop before `release`)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.extend(self._delayed)
        self._delayed.clear()
        while self._queue:
            p = self._queue.popleft()
            self.stats.pending -= 1
            self._fail(p, ServeError(f"model '{self.name}' was unloaded while the request waited"))

    def release(self) -> None:
        """Wait for running batches, then release the instances (blocks: run off the loop)."""
        for inst in self._instances:
            inst.executor.shutdown(wait=True)
            inst.backend.close()
