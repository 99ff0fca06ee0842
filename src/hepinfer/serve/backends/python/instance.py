"""One python-backend model instance: its process, its shared-memory arena, its messages.

The server side of `runtime._pb_stub`: `PythonInstance` starts the instance process with a
Unix socket pair (`_pb_stub.Channel` messages) and a memfd arena (inherited file descriptors, nothing left in /dev/shm), calls
``initialize``, runs batches of requests through ``execute`` and serves the model's BLS calls
while it waits, and calls ``finalize`` on close.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hepinfer.errors import ServeError
from hepinfer.serve.backends.python.runtime import _pb_stub

STUB = Path(_pb_stub.__file__)

#: arena size when the config gives no ``shm-default-byte-size`` parameter (memfd pages are
#: only allocated when touched)
DEFAULT_ARENA_BYTES = 64 * 1024 * 1024
#: seconds to wait for initialize / finalize
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0
#: milliseconds the sleeping inline wait waits at most for an answer (poll's resolution;
#: anything else the loop watches ends it sooner, only its timers may wait this long)
BLOCK_MS = 1

#: a BLS call: (model, version "" = latest, inputs, outputs wanted, parameters JSON) -> outputs
Bls = Callable[[str, str, dict[str, np.ndarray], list[str], str], dict[str, np.ndarray]]
#: the answer to a BLS call: (outputs, None) or (None, error text)
BlsReply = Callable[[dict[str, np.ndarray] | None, str | None], None]
#: a BLS call started on the event loop; it calls the reply when done
AsyncBls = Callable[[str, str, dict[str, np.ndarray], list[str], str, BlsReply], None]


class HttpBody(NamedTuple):
    """An HTTP raw-path request's answer: the response body, written by the instance."""

    data: bytes
    #: the JSON header's length when binary tensor data follows it (the
    #: Inference-Header-Content-Length header), else None (all JSON)
    json_length: int | None


#: one request's result: its outputs, its error text, the serialized ModelInferResponse of a
#: gRPC raw-path request, the body of an HTTP raw-path request, or None for a decoupled
#: model's request (answered through `OnResponse`)
Result = dict[str, np.ndarray] | str | bytes | HttpBody | None
#: per-request results of a batch, or the batch's error
Done = Callable[[list[Result] | None, Exception | None], None]
#: a decoupled model's response: (request token, outputs or None for the flag alone, error
#: text or None, flags)
OnResponse = Callable[[int, dict[str, np.ndarray] | None, str | None, int], None]


class PyRequest(NamedTuple):
    """One request of a batch handed to ``execute`` (a NamedTuple: one per request on the
    event loop, several times cheaper to build than a frozen dataclass).
    """

    id: str
    #: JSON text, or the parameters themselves (plain values, pickled to the process as
    #: they are: no JSON encoding per request on the event loop)
    parameters: str | Mapping[str, Any]
    inputs: Mapping[str, np.ndarray]
    outputs: Sequence[str]
    token: int = 0  #: names the request in a decoupled model's responses
    #: the raw path: the inputs as the wire's bytes (`inputs` unused), and the answer is the
    #: serialized ModelInferResponse (`outputs` in the response's order)
    raw: Sequence[_pb_stub.RawTensor] | None = None
    #: how the instance answers: False with outputs (decoded), True with the serialized
    #: ModelInferResponse (gRPC raw path), per output whether it goes as binary data with the
    #: HTTP body (HTTP raw path)
    reply: bool | tuple[bool, ...] = False


class PythonInstance:
    """A running instance process of a python-backend model."""

    def __init__(self, model_py: Path, arena_bytes: int = DEFAULT_ARENA_BYTES) -> None:
        self.model_py = model_py
        self._lock = threading.Lock()
        fd = os.memfd_create("hepinfer-python-backend", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, arena_bytes)
            self.arena = _pb_stub.Arena(fd, arena_bytes)
            # one socket pair per direction (`_pb_stub.Channel`: no wake-up for nothing of
            # the process, asleep in recv, each time the server takes its answer)
            to_them, their_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            from_them, their_out = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            # the native gRPC front end's lane reads the process's lane answers here
            lane, their_lane = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        str(STUB),
                        str(their_in.fileno()),
                        str(their_out.fileno()),
                        str(fd),
                        str(arena_bytes),
                        str(model_py),
                        str(their_lane.fileno()),
                    ],
                    pass_fds=(their_in.fileno(), their_out.fileno(), fd, their_lane.fileno()),
                    stdin=subprocess.DEVNULL,
                    cwd=str(model_py.parent),
                )
            except BaseException:
                to_them.close()
                from_them.close()
                lane.close()
                raise
            finally:
                their_in.close()
                their_out.close()
                their_lane.close()
        finally:
            os.close(fd)
        self.conn = _pb_stub.Channel(from_them, to_them)
        #: the lane's answers (`_pb_stub.Stub.lane`), read by the native gRPC front end
        self.lane = lane
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: Done | None = None
        self._async_bls: AsyncBls | None = None
        #: per descriptor of an event loop: a poll object the sleeping inline wait uses
        self._sleepers: dict[int, select.poll] = {}
        self.on_response: OnResponse | None = None
        #: called on the loop when the process is found dead (after the batch in flight failed)
        self.on_exit: Callable[[], None] | None = None

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def call(self, message: tuple[Any, ...], timeout_s: float, what: str) -> Any:
        """Send a control message; return the reply's payload (raises on an error reply)."""
        with self._lock:
            self.conn.send(message)
            status, payload = self._recv(timeout_s, what)
        if status != "ok":
            msg = f"{what}: {payload}"
            raise ServeError(msg)
        return payload

    def _recv(self, timeout_s: float | None, what: str) -> Any:
        try:
            return self.conn.recv(timeout_s=timeout_s)
        except TimeoutError:
            self.kill()
            msg = f"{what}: the python instance process did not answer in {timeout_s:.0f} s"
            raise ServeError(msg) from None
        except (EOFError, OSError):
            code = self.process.wait()
            msg = (
                f"{what}: the python instance process for {self.model_py} exited with code "
                f"{code} (see the server's stderr for the model's traceback)"
            )
            raise ServeError(msg) from None

    def initialize(self, args: dict[str, str]) -> None:
        """Create the model object and run its ``initialize(args)``."""
        self.call(("init", args), START_TIMEOUT_S, f"initialize of {self.model_py}")

    def autocomplete(self, config: dict[str, Any]) -> dict[str, Any]:
        """Run ``auto_complete_config`` on a configuration (JSON form)."""
        text = self.call(
            ("autocomplete", json.dumps(config)),
            START_TIMEOUT_S,
            f"auto_complete_config of {self.model_py}",
        )
        result: dict[str, Any] = json.loads(text)
        return result

    def _batch(self, requests: Sequence[PyRequest]) -> list[tuple[Any, ...]]:
        """The ``exec`` message's requests, their inputs written into the arena."""
        arena = self.arena
        pos = 0
        batch = []
        for r in requests:
            if r.raw is None:
                descs = arena.pack(r.inputs.items(), False, pos)
            else:
                descs = arena.place(r.raw, pos)
            pos = arena.packed_to
            batch.append((r.id, r.parameters, descs, list(r.outputs), r.token, r.reply))
        return batch

    def execute(self, requests: Sequence[PyRequest], bls: Bls | None) -> list[Result]:
        """Run ``execute`` on a batch; per request its outputs, or its error text (a raw-path
        request: its serialized response).
        """
        with self._lock:
            self.conn.send(("exec", self._batch(requests)))
            while True:
                msg = self._recv(None, f"execute of {self.model_py}")
                if msg[0] == "done":
                    return [self._result(r) for r in msg[1]]
                if msg[0] == "bls":
                    self._bls(bls, msg)
                elif msg[0] != "response":
                    text = f"unexpected message {msg[0]!r} from the python instance process"
                    raise ServeError(text)

    # ------------------------------------------------------------ event-loop path
    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the process's messages on `loop` (the asynchronous path, `submit`)."""
        if self._loop is None:
            loop.add_reader(self.conn.fileno(), self._on_readable)
            self._loop = loop

    def serve_bls(self, bls: AsyncBls) -> None:
        """Serve the BLS calls of requests the server did not `submit` (a front end's lane)."""
        self._async_bls = bls

    def unwatch(self) -> None:
        """Stop reading on the event loop (call on the loop, before `close`)."""
        if self._loop is not None:
            self._loop.remove_reader(self.conn.fileno())
            self._loop = None

    def submit(
        self,
        requests: Sequence[PyRequest],
        done: Done,
        bls: AsyncBls | None,
        wait_s: float = 0.0,
        arrivals: Callable[[], int] | None = None,
        wake: int | None = None,
    ) -> None:
        """Start ``execute`` on a batch (on the loop, after `watch`).

        `done` gets the per-request results (or an error) on the loop; BLS calls the model
        makes meanwhile go to `bls`, whose answers are sent back from the loop. With `wait_s`
        the loop polls for the answer that long before it goes back to its other work (a
        fast model's answer then costs no wake-up of the loop); `done` may so run before
        `submit` returns. The wait also ends as soon as `arrivals` (a count of the requests
        the server received) moves: the loop then takes them while the process works.

        With `wake`, the event loop's own polling descriptor (`serve.arrivals.loop_fd`:
        readable as soon as anything the loop watches is ready, this process's socket
        included), the wait sleeps in one ``poll`` on it instead of spinning: it holds no CPU,
        and it ends at the answer, at anything else the loop has to do, or after
        `BLOCK_MS`.
        """
        batch = self._batch(requests)
        self._done = done
        self._async_bls = bls
        try:
            self.conn.send(("exec", batch))
        except BaseException:
            self._done = None  # not sent: the caller answers the batch (never `done` too)
            raise
        if wait_s <= 0:
            return
        if wake is not None and self._loop is not None:
            self._block(wake)
            return
        end = time.perf_counter() + wait_s
        poll = self.conn.poll
        seen = arrivals() if arrivals is not None else 0
        while True:
            try:
                ready, msg = poll()
            except (EOFError, OSError):
                self._exited()
                return
            if ready:
                self._handle(msg)
                if msg[0] != "response":
                    # done, or a BLS call started: the rest comes through the loop, also
                    # what this read already buffered (a decoupled model's later responses
                    # may have come with "done"; the socket will not wake the loop for them)
                    if self.conn.has_buffered and self._loop is not None:
                        self._loop.call_soon(self._on_readable)
                    return
            elif time.perf_counter() > end or (arrivals is not None and arrivals() != seen):
                return
            else:
                # on a busy machine the instance process may be waiting for this CPU
                os.sched_yield()

    def _block(self, wake: int) -> None:
        """The sleeping inline wait (`submit` with `wake`)."""
        sleeper = self._sleepers.get(wake)
        if sleeper is None:
            sleeper = self._sleepers[wake] = select.poll()
            sleeper.register(wake, select.POLLIN)
        conn = self.conn
        end = time.perf_counter() + BLOCK_MS / 1000
        while True:
            # messages read together (a decoupled model's responses) are taken first: the
            # socket they came on will not wake the poll again
            if not conn.has_buffered and not sleeper.poll(BLOCK_MS):
                return  # no answer yet: it comes through the loop
            try:
                ready, msg = conn.poll()
            except (EOFError, OSError):
                self._exited()
                return
            if not ready:
                return  # the loop has other work: the answer comes through it
            self._handle(msg)
            # done (or a BLS call started), or a stream of responses that has held the loop
            # long enough: the rest comes through the loop
            if msg[0] != "response" or time.perf_counter() > end:
                if conn.has_buffered and self._loop is not None:
                    self._loop.call_soon(self._on_readable)
                return

    def _on_readable(self) -> None:
        if self._loop is None:
            return
        conn = self.conn
        try:
            conn.fill()  # one read: the loop found the socket readable
        except (EOFError, OSError):
            self._exited()
            return
        while True:
            # a message's handling may start the next batch, which may read (and handle)
            # later messages itself: take them one at a time from the shared buffer
            ready, msg = conn.buffered()
            if not ready:
                return
            self._handle(msg)

    def _exited(self) -> None:
        """The process closed its end: fail the batch in flight and report the exit."""
        self.unwatch()
        code = self.process.wait()
        self._finish(
            None,
            ServeError(
                f"the python instance process for {self.model_py} exited with code "
                f"{code} (see the server's stderr for the model's traceback)"
            ),
        )
        if self.on_exit is not None:
            self.on_exit()

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "response":
            _, token, descs, error, flags = msg
            if self.on_response is not None:
                outputs = None if descs is None else {n: a for n, _, _, _, a in descs}
                self.on_response(token, outputs, error, flags)
        elif kind == "done":
            self._finish([None if r is None else self._result(r) for r in msg[1]], None)
        elif kind == "bls":
            self._start_bls(msg)

    def _finish(self, results: list[Result] | None, exc: Exception | None) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(results, exc)

    def _start_bls(self, msg: tuple[Any, ...]) -> None:
        _, model, version, descs, outputs, parameters = msg
        bls = self._async_bls
        if bls is None:
            self.conn.send(("error", "BLS calls are not available in this server"))
            return

        def reply(out: dict[str, np.ndarray] | None, error: str | None) -> None:
            if out is None:
                self.conn.send(("error", error))
            else:
                self.conn.send(("ok", _pb_stub.inline(out.items())))

        inputs = {n: a for n, _, _, _, a in descs}
        bls(model, "" if version <= 0 else str(version), inputs, outputs, parameters, reply)

    def _result(self, result: Any) -> dict[str, np.ndarray] | str | bytes | HttpBody:
        if result is None:
            return "the model's execute gave no response for the request"
        status, payload = result
        if status == "bytes":
            return bytes(payload)
        if status == "http":
            return HttpBody(*payload)
        if status != "ok":
            return str(payload)
        return dict(self.arena.unpack(payload, copy=True))

    def _bls(self, bls: Bls | None, msg: tuple[Any, ...]) -> None:
        _, model, version, descs, outputs, parameters = msg
        if bls is None:
            self.conn.send(("error", "BLS calls are not available in this server"))
            return
        inputs = {n: a for n, _, _, _, a in descs}
        try:
            out = bls(model, "" if version <= 0 else str(version), inputs, outputs, parameters)
        except Exception as exc:  # noqa: BLE001 - the model gets the error in its response
            self.conn.send(("error", str(exc)))
            return
        self.conn.send(("ok", _pb_stub.inline(out.items())))

    def kill(self) -> None:
        """Stop the process now."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """Run ``finalize`` and stop the process."""
        try:
            if self.process.poll() is None:
                self.call(("fini",), STOP_TIMEOUT_S, f"finalize of {self.model_py}")
                self.process.wait(STOP_TIMEOUT_S)
        except (ServeError, subprocess.TimeoutExpired, OSError):
            self.kill()
        finally:
            self.conn.close()
            self.lane.close()
            self.arena.close()
