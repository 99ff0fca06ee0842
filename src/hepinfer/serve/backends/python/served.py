"""`PythonModel`: the scheduler of a python-backend model (Triton's ``execute(requests)``).

The dynamic batcher groups requests as for any model, but a python-backend instance gets
the *list* of requests (each with its own tensors) rather than one concatenated batch, and
answers each request on its own: one request's error does not fail the others. The event
loop sends a batch to the instance process and reads its answer (no thread hand-off); BLS
calls the model makes while it runs go to the server's other models through their own
schedulers, from the loop, and their answers back to the waiting process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError
from hepinfer.protocol.dtypes import wire_datatype
from hepinfer.protocol.messages import InferInput, InferRequest, InferResponse, RequestedOutput
from hepinfer.serve.backends.base import ModelInstance
from hepinfer.serve.backends.python.backend import PythonModelInstance
from hepinfer.serve.backends.python.instance import BlsReply, PyRequest
from hepinfer.serve.budget import MemoryBudget
from hepinfer.serve.ensemble import Resolver
from hepinfer.serve.model import ServedModel, _Instance, _Pending, _Result

#: requests of an unbatched model given to one ``execute`` call, at most (by default)
MAX_REQUESTS = 64
#: a model with one instance whose round trips take less than this (moving average) is
#: waited for on the loop, polling, for up to this long: no sleep and wake-up of the loop
INLINE_WAIT_NS = 300_000


class _Failed(dict[str, np.ndarray]):
    """The result of a request the model answered with an error."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


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
        self._round_trip_ema_ns = 0

    def _dispatch_ready(self) -> None:
        """Without batching, every waiting request (at most `_max_requests`) goes to one
        ``execute`` call, as a list: one round trip to the process for all of them.

        Triton hands such a model one request per call; ``execute`` takes a list either way,
        and the ``execute_max_requests`` config parameter set to 1 restores that behaviour.
        """
        if self._batching:
            super()._dispatch_ready()
            return
        queue = self._queue
        while self._free and queue:
            group = [queue.popleft() for _ in range(min(len(queue), self._max_requests))]
            self._launch(self._free.pop(), group)

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
        requests = [
            PyRequest(
                p.request.id,
                json.dumps(dict(p.request.parameters), default=str)
                if p.request.parameters
                else "{}",
                p.arrays,
                [o.name for o in p.wanted],
            )
            for p in group
        ]
        total = sum(p.batch for p in group)
        t1 = time.monotonic_ns()

        def done(results: list[dict[str, np.ndarray] | str] | None, exc: Exception | None) -> None:
            if exc is not None or results is None:
                self._complete(instance, group, None, exc)
                return
            t2 = time.monotonic_ns()
            self._round_trip_ema_ns += (t2 - t1 - self._round_trip_ema_ns) // 8
            per_request = [r if isinstance(r, dict) else _Failed(r) for r in results]
            self._complete(instance, group, (per_request, total, t1 - now, t2 - t1, 0), None)

        # waiting only pays for a lone request: under load the loop has other work meanwhile
        wait_s = (
            INLINE_WAIT_NS / 1e9
            if self._wait_inline
            and len(group) == 1
            and not self._queue
            and self._round_trip_ema_ns < INLINE_WAIT_NS
            else 0.0
        )
        try:
            process.watch(loop)
            process.submit(requests, done, self._bls, wait_s)
        except Exception as exc:  # noqa: BLE001 - e.g. the process died: the batch fails
            self._complete(instance, group, None, exc)
            return

    async def finish(self, timeout_s: float = 30.0) -> None:
        """Answer what was accepted, then stop reading the instance processes on the loop."""
        await super().finish(timeout_s)
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
        self._free.append(instance)
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
