"""`PythonModel`: the scheduler of a python-backend model (Triton's ``execute(requests)``).

The dynamic batcher groups requests as for any model, but a python-backend instance gets
the *list* of requests (each with its own tensors) rather than one concatenated batch, and
answers each request on its own: one request's error does not fail the others. BLS calls
the model makes while it runs go to the server's other models through their own schedulers
(on the event loop, awaited from the instance's thread).
"""

from __future__ import annotations

import asyncio
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
from hepinfer.serve.backends.python.instance import PyRequest
from hepinfer.serve.budget import MemoryBudget
from hepinfer.serve.ensemble import Resolver
from hepinfer.serve.model import ServedModel, _Pending, _Result


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
        # the instance thread may wait on the loop (BLS): never run on the loop itself
        self._inline_ok = False
        self._force_inline = False

    def _execute(self, backend: ModelInstance, group: list[_Pending]) -> _Result:
        """Runs in the instance's thread: one ``execute`` call for the group's requests."""
        t0 = time.monotonic_ns()
        requests = [
            PyRequest(
                p.request.id,
                json.dumps(dict(p.request.parameters), default=str),
                p.arrays,
                [o.name for o in p.wanted],
            )
            for p in group
        ]
        assert isinstance(backend, PythonModelInstance)
        t1 = time.monotonic_ns()
        results = backend.execute(requests, self._bls)
        t2 = time.monotonic_ns()
        per_request = [r if isinstance(r, dict) else _Failed(r) for r in results]
        return per_request, sum(p.batch for p in group), t1 - t0, t2 - t1, 0

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
    ) -> dict[str, np.ndarray]:
        """Run a BLS request on the server (called from the instance's thread)."""
        loop = self._loop
        resolver = self._resolver
        if loop is None or resolver is None:
            msg = f"model '{self.name}': BLS needs a running server with a model repository"
            raise ServeError(msg)
        request = InferRequest(
            model,
            version,
            "",
            tuple(InferInput(n, wire_datatype(a.dtype), a.shape, a) for n, a in inputs.items()),
            tuple(RequestedOutput(o) for o in outputs),
            json.loads(parameters) if parameters else {},
        )

        async def call() -> InferResponse:
            return await resolver(model, version).infer(request, None)

        response = asyncio.run_coroutine_threadsafe(call(), loop).result()
        return {o.name: o.data for o in response.outputs}
