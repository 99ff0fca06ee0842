"""The event-loop side of the native gRPC front end.

The C++ library queues every received message and wakes the loop through an eventfd; the
loop takes all of them with one call, parses each with protobuf, runs it through the same
`ServerCore` / `GrpcService` code as the grpc.aio front end, and hands back the serialized
answer. One wake-up serves a whole burst of requests, which is what lets the dynamic batcher
see them together.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from tritonclient.grpc import service_pb2 as pb

from hepinfer.errors import HepinferError, ServeError
from hepinfer.protocol.grpc_codec import decode_request, encode_response
from hepinfer.protocol.messages import InferResponse
from hepinfer.serve import arrivals, lanes
from hepinfer.serve.core import ServerCore
from hepinfer.serve.grpc_service import GrpcService
from hepinfer.serve.native.build import load_library
from hepinfer.serve.restrict import GRPC_METHOD_GROUPS, Restrictions
from hepinfer.serve.status import classify_error
from hepinfer.serve.streams import stream_submit
from hepinfer.serve.tls import ServerTls

log = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
STREAM_METHOD = "ModelStreamInfer"
#: messages taken from the C++ queue per call
TAKE = 256
#: calls each completion queue keeps posted to accept new ones (kPosted in the C++ source)
POSTED_CALLS = 16
#: answer codes of stream messages (kMore, kDoneSilent in the C++ source): a response with
#: more to follow, and a request complete with nothing to write (decoupled models)
_MORE = -1
_DONE_SILENT = -2

_Handler = Callable[[int, bytes], None]
#: message kinds of lane notices (kLaneFree, kLaneLost in the C++ source): a lane freed an
#: instance the loop waits for; a lane's request lost its instance process
_LANE_FREE = -1
_LANE_LOST = -2
_LOST = "the model's instance process exited while it ran the request; send it again"
#: values `hepinfer_lane_stats` writes at most (10 + 3 per batch size)
_LANE_STATS = 10 + 3 * 1024


class _Context:
    """The part of grpc.aio's ServicerContext that GrpcService uses."""

    __slots__ = ("code", "details")

    def __init__(self) -> None:
        self.code = grpc.StatusCode.OK
        self.details = ""

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details


def _methods() -> list[tuple[str, type[Message]]]:
    service = pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", maxsplit=1)[-1]]
    return [(m.name, getattr(pb, m.input_type.name)) for m in service.methods]


def _status(code: grpc.StatusCode) -> int:
    value: tuple[int, str] = code.value
    return value[0]


class NativeGrpcFrontend:
    """``inference.GRPCInferenceService`` on gRPC C++; `start` and `stop` on the event loop."""

    def __init__(
        self, core: ServerCore, threads: int = 1, restrictions: Restrictions | None = None
    ) -> None:
        if threads < 1:
            msg = f"grpc_threads {threads} must be at least 1"
            raise ServeError(msg)
        self.core = core
        self.threads = threads
        #: restricted API groups: checked in C++ on the call's metadata before any Python runs
        self.restrictions = restrictions or Restrictions(protocol="grpc")
        self.port: int | None = None
        self._service = GrpcService(core)
        self._lib = load_library()
        self._handle: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._tasks: set[asyncio.Task[None]] = set()
        self._arrivals: arrivals.Probe | None = None
        methods = _methods()
        self._names = [name for name, _ in methods]
        self._handlers: list[_Handler] = [self._handler(n, cls) for n, cls in methods]
        self._calls = (ctypes.c_ulonglong * TAKE)()
        self._kinds = (ctypes.c_int * TAKE)()
        self._data = (ctypes.c_void_p * TAKE)()
        self._sizes = (ctypes.c_ulonglong * TAKE)()
        self._answers: list[tuple[int, int, bytes | None, bytes]] = []
        #: calls are being taken: answers wait for the end of `_on_readable`
        self._taking = False
        self._out_calls = (ctypes.c_ulonglong * TAKE)()
        self._out_codes = (ctypes.c_int * TAKE)()
        self._out_details = (ctypes.c_char_p * TAKE)()
        self._out_data = (ctypes.c_char_p * TAKE)()
        self._out_sizes = (ctypes.c_ulonglong * TAKE)()
        #: per open lane: what runs when it frees an instance the loop waited for
        self._lane_waiters: dict[int, Callable[[], None]] = {}
        #: per lane opened (kept after it closes: its notice may still be queued): what gives
        #: the error of a request whose instance process died
        self._lane_lost: dict[int, Callable[[], Exception]] = {}
        self._lane_out = (ctypes.c_ulonglong * _LANE_STATS)()

    # ------------------------------------------------------------------ life cycle
    async def start(
        self,
        host: str,
        port: int,
        max_message_bytes: int,
        options: Mapping[str, int | str] | None = None,
        tls: ServerTls | None = None,
    ) -> int:
        """Listen on host:port (0 picks a port), with TLS when given; returns the port."""
        self._loop = asyncio.get_running_loop()
        args = dict(options or {})
        keys = (ctypes.c_char_p * max(1, len(args)))(*[k.encode() for k in args])
        ints = (ctypes.c_longlong * max(1, len(args)))(
            *[v if isinstance(v, int) else 0 for v in args.values()]
        )
        strs = (ctypes.c_char_p * max(1, len(args)))(
            *[v.encode() if isinstance(v, str) else b"" for v in args.values()]
        )
        is_str = (ctypes.c_int * max(1, len(args)))(*[isinstance(v, str) for v in args.values()])
        need_keys, need_values, refusals = self._restriction_arrays()
        chosen = ctypes.c_int(0)
        error = ctypes.create_string_buffer(1024)
        cert, key, root = tls.pem() if tls is not None else (None, None, None)
        handle = self._lib.hepinfer_grpc_start(
            f"{host}:{port}".encode(),
            "\n".join(f"/{SERVICE}/{n}" for n in self._names).encode(),
            self._names.index(STREAM_METHOD),
            max_message_bytes,
            self.threads,
            len(args),
            keys,
            ints,
            strs,
            is_str,
            need_keys,
            need_values,
            refusals,
            cert,
            key,
            root,
            int(tls is not None and tls.mutual),
            ctypes.byref(chosen),
            error,
            len(error),
        )
        if not handle:
            raise ServeError(error.value.decode(errors="replace"))
        self._handle = handle
        self._fd = self._lib.hepinfer_grpc_fd(handle)
        self._loop.add_reader(self._fd, self._on_readable)
        received = self._lib.hepinfer_grpc_received
        self._arrivals = lambda: int(received(handle))
        arrivals.register(self._loop, self._arrivals)
        lanes.register(self._loop, self)
        self.port = chosen.value
        return chosen.value

    def _restriction_arrays(self) -> tuple[Any, Any, Any]:
        """Per served method: the metadata key, value and refusal message (None: open)."""
        n = len(self._names)
        keys, values, refusals = (
            (ctypes.c_char_p * n)(),
            (ctypes.c_char_p * n)(),
            (ctypes.c_char_p * n)(),
        )
        for i, name in enumerate(self._names):
            group = GRPC_METHOD_GROUPS.get(name)
            need = self.restrictions.header(group) if group is not None else None
            if need is not None and group is not None:
                keys[i] = need.key.encode()
                values[i] = need.value.encode()
                refusals[i] = self.restrictions.refusal(group).encode()
        return keys, values, refusals

    async def stop(self, grace: float = 1.0) -> None:
        """Refuse new calls, let open ones finish for up to `grace` seconds, free everything."""
        handle, loop = self._handle, self._loop
        if handle is None or loop is None:
            return
        # shutting down blocks until open calls finish: off the loop, which goes on answering
        await loop.run_in_executor(
            None, self._lib.hepinfer_grpc_shutdown, handle, int(grace * 1000)
        )
        loop.remove_reader(self._fd)
        lanes.unregister(loop, self)
        self._lane_waiters.clear()
        self._lane_lost.clear()
        if self._arrivals is not None:
            arrivals.unregister(loop, self._arrivals)
            self._arrivals = None
        self._handle = None
        self._lib.hepinfer_grpc_destroy(handle)
        for task in list(self._tasks):
            task.cancel()

    @property
    def received(self) -> int:
        """Messages received so far (0 once stopped)."""
        if self._handle is None:
            return 0
        return int(self._lib.hepinfer_grpc_received(self._handle))

    @property
    def open_calls(self) -> int:
        """Calls held by the transport: open ones plus those posted to accept new calls."""
        if self._handle is None:
            return 0
        return int(self._lib.hepinfer_grpc_open_calls(self._handle))

    # ------------------------------------------------------------------ lanes
    @property
    def serving(self) -> bool:
        """Whether the front end runs (lanes exist only while it does)."""
        return self._handle is not None

    def open_lane(
        self,
        model: str,
        version: str,
        to_process: int,
        from_process: int,
        error_code: int,
        on_free: Callable[[], None],
        on_lost: Callable[[], Exception] = lambda: ServeError(_LOST),
    ) -> int:
        """Send `model`'s raw ModelInfer requests (versions "" and `version`) from the C++
        thread to its instance process (`to_process`), reading the answers on `from_process`
        in a thread of the library: the event loop is not woken for them. The lane takes a
        request only in a form registered with `lane_plan`, and only while it holds the
        instance (`lane_acquire` / `lane_release`); `on_free` runs on the loop when the lane
        frees the instance after `lane_acquire` found it busy. Only a model with one version
        loaded gets a lane (a request without a version is then for it). The model's errors end the
        call with gRPC status `error_code`; a request whose process died gets `on_lost()`'s
        error. Returns the lane's id (0: none opened).
        """
        if self._handle is None:
            return 0
        try:
            versions = self.core.repository.versions(model)
        except (HepinferError, LookupError):  # unloaded meanwhile
            return 0
        if [m.version_str for m in versions] != [version]:
            # requests without a version go to the latest: a lane serves a model's only one
            return 0
        lane = int(
            self._lib.hepinfer_lane_open(
                self._handle, model.encode(), version.encode(), to_process, from_process, error_code
            )
        )
        if lane:
            self._lane_waiters[lane] = on_free
            self._lane_lost[lane] = on_lost
        return lane

    def close_lane(self, lane: int) -> None:
        """Close a lane; a request it runs is answered first (this waits for it)."""
        self._lane_waiters.pop(lane, None)
        if self._handle is not None:
            self._lib.hepinfer_lane_close(self._handle, lane)

    def lane_plan(
        self, lane: int, key: bytes, sizes: tuple[int, ...], plan: bytes, batch: int
    ) -> None:
        """Let the lane take requests whose tensor descriptions are `key` (each input's and,
        after a 0xff byte, each requested output's serialized description, each after its
        4-byte little-endian length), each input's raw contents `sizes` bytes long; `plan`
        (pickle opcodes) tells the instance process what they are.
        """
        if self._handle is None:
            return
        arr = (ctypes.c_ulonglong * max(1, len(sizes)))(*sizes)
        self._lib.hepinfer_lane_plan(
            self._handle, lane, key, len(key), len(sizes), arr, plan, len(plan), batch
        )

    def lane_acquire(self, lane: int) -> bool:
        """Take the instance for the loop; False while the lane runs a request."""
        if self._handle is None:
            return True
        return bool(self._lib.hepinfer_lane_acquire(self._handle, lane))

    def lane_release(self, lane: int) -> None:
        """Give the idle instance back to the lane."""
        if self._handle is not None:
            self._lib.hepinfer_lane_release(self._handle, lane)

    def lane_stats(self, lane: int) -> lanes.LaneStats | None:
        """The lane's statistics since the last call (None: no such lane)."""
        if self._handle is None:
            return None
        out = self._lane_out
        n = self._lib.hepinfer_lane_stats(self._handle, lane, out, _LANE_STATS)
        if n < 10:
            return None
        v = out[:n]
        batches = tuple(
            (int(v[i]), int(v[i + 1]), int(v[i + 2])) for i in range(10, 10 + 3 * int(v[9]), 3)
        )
        c = [int(x) for x in v[:9]]
        return lanes.LaneStats(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], batches)

    def lane_answered(self, lane: int) -> int:
        """Requests the lane answered so far (safe from any thread)."""
        handle = self._handle
        return 0 if handle is None else int(self._lib.hepinfer_lane_answered(handle, lane))

    def _lane_notice(self, kind: int, call: int, pointer: int | None, size: int) -> None:
        if kind == _LANE_FREE:
            waiter = self._lane_waiters.get(call)
            if waiter is not None:
                try:
                    waiter()
                except Exception:
                    log.exception("dispatching after a lane freed its instance failed")
            return
        if kind == _LANE_LOST:
            lane = int(ctypes.string_at(pointer, size)) if pointer else 0
            lost = self._lane_lost.get(lane)
            try:
                exc = lost() if lost is not None else ServeError(_LOST)
            except Exception as problem:
                exc = problem
            self._fail(call, exc)

    # ------------------------------------------------------------------ hot path
    def _on_readable(self) -> None:
        handle = self._handle
        if handle is None:
            return
        take = self._lib.hepinfer_grpc_take
        calls, kinds, data, sizes = self._calls, self._kinds, self._data, self._sizes
        handlers = self._handlers
        # answers given while the calls are taken (a python-backend model's inline wait)
        # leave together at the end, with no further trip through the loop
        self._taking = True
        loop = self._loop
        assert loop is not None
        arrivals.begin_burst(loop)
        try:
            while True:
                n = take(handle, TAKE, calls, kinds, data, sizes)
                for i in range(n):
                    if kinds[i] < 0:
                        self._lane_notice(kinds[i], calls[i], data[i], sizes[i])
                        continue
                    pointer = data[i]
                    payload = ctypes.string_at(pointer, sizes[i]) if pointer else b""
                    try:
                        handlers[kinds[i]](calls[i], payload)
                    except Exception as exc:  # every call is answered, whatever went wrong
                        self._fail(calls[i], exc)
                if n < TAKE:
                    break
        finally:
            try:
                arrivals.end_burst(loop)  # e.g. the batchers' dispatches of these requests
            finally:
                self._taking = False
        if self._answers:
            self._flush()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, call: int, message: Message) -> None:
        self._answer(call, 0, None, message.SerializeToString())

    def _send_error(self, call: int, code: grpc.StatusCode, details: str) -> None:
        self._answer(call, _status(code), details.encode(errors="replace"), b"")

    def _answer(self, call: int, code: int, details: bytes | None, payload: bytes) -> None:
        """Queue an answer; all answers of one loop iteration leave with one native call."""
        if not self._answers and not self._taking:
            assert self._loop is not None
            self._loop.call_soon(self._flush)
        self._answers.append((call, code, details, payload))

    def _flush(self) -> None:
        answers, self._answers = self._answers, []
        handle = self._handle
        if handle is None:
            return
        for start in range(0, len(answers), TAKE):
            chunk = answers[start : start + TAKE]
            calls, codes, details = self._out_calls, self._out_codes, self._out_details
            data, sizes = self._out_data, self._out_sizes
            for i, (call, code, text, payload) in enumerate(chunk):
                calls[i] = call
                codes[i] = code
                details[i] = text
                data[i] = payload
                sizes[i] = len(payload)
            self._lib.hepinfer_grpc_respond(handle, len(chunk), calls, codes, details, data, sizes)

    def _fail(self, call: int, exc: Exception) -> None:
        code, _ = classify_error(exc)
        if not isinstance(exc, HepinferError):
            log.exception("internal error while serving a gRPC request", exc_info=exc)
        self._send_error(call, code, str(exc))

    def _parse(self, call: int, name: str, cls: type[Message], payload: bytes) -> Message | None:
        try:
            return cls.FromString(payload)
        except DecodeError as exc:
            self._send_error(
                call,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{name}: the {len(payload)} bytes received are not a valid "
                f"inference.{cls.__name__} protobuf message ({exc}); send requests built "
                "with tritonclient or the service_pb2 module",
            )
            return None

    def _handler(self, name: str, cls: type[Message]) -> _Handler:
        if name == "ModelInfer":
            return self._model_infer
        if name == STREAM_METHOD:
            return self._stream_one
        method = getattr(self._service, name)

        async def unary(call: int, payload: bytes) -> None:
            request = self._parse(call, name, cls, payload)
            if request is None:
                return
            context = _Context()
            try:
                response = await method(request, context)
            except Exception as exc:
                self._fail(call, exc)
                return
            if context.code == grpc.StatusCode.OK:
                self._send(call, response)
            else:
                self._send_error(call, context.code, context.details)

        return lambda call, payload: self._spawn(unary(call, payload))

    def _model_infer(self, call: int, payload: bytes) -> None:
        """ModelInfer without a task: queued now, answered from the batch's completion."""

        def done(response: bytes | InferResponse | None, exc: Exception | None) -> None:
            if isinstance(response, bytes):  # serialized by the model's instance process
                self._answer(call, 0, None, response)
            elif exc is not None or response is None:
                self._fail(call, exc or ServeError("no response"))
            else:
                self._send(call, encode_response(response))

        if self.core.submit_raw(payload, done):
            return
        request = self._parse(call, "ModelInfer", pb.ModelInferRequest, payload)
        if request is None:
            return
        try:
            decoded = decode_request(request)
        except Exception as exc:
            self._fail(call, exc)
            return
        self.core.submit(decoded, done)

    def _stream_one(self, call: int, payload: bytes) -> None:
        """One request of a stream, without a task: each response is written when it comes."""
        request = self._parse(call, STREAM_METHOD, pb.ModelInferRequest, payload)
        if request is None:
            return

        def emit(message: pb.ModelStreamInferResponse | None, final: bool) -> None:
            if message is None:
                self._answer(call, _DONE_SILENT, None, b"")
            else:
                self._answer(call, 0 if final else _MORE, None, message.SerializeToString())

        stream_submit(self.core.submit, request, emit)
