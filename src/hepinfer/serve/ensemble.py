"""Ensembles: Triton's ``platform: "ensemble"`` with ``ensemble_scheduling`` steps.

An `EnsembleModel` owns no instances. Each request becomes a small data-flow run: a step
starts as soon as every ensemble tensor its ``input_map`` reads exists, and its request goes
through the composing model's own `ServedModel.submit` (so through that model's dynamic
batcher, queue policy and statistics); its ``output_map`` names the tensors it adds. When
every step finished, the ensemble answers with its declared outputs. Everything runs on the
event loop: steps are callbacks, with no thread or task per request. Any DAG of steps works;
a cycle, a tensor made twice or read but never made is refused at load time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import HepinferError, ServeError
from hepinfer.protocol.dtypes import wire_datatype
from hepinfer.protocol.messages import InferInput, InferRequest, InferResponse, RequestedOutput
from hepinfer.serve.budget import MemoryBudget, request_bytes
from hepinfer.serve.model import Done, ServedModel, _Pending
from hepinfer.serve.shm import SharedMemoryManager
from hepinfer.serve.validate import validate_inputs

#: finds a served model by name and version ("" = latest), as `ModelRepository.get` does
Resolver = Callable[[str, str], ServedModel]


@dataclass(frozen=True)
class Step:
    """One step of ``ensemble_scheduling``: a composing model and its tensor maps."""

    index: int
    model: str
    version: str  #: "" for the latest version (model_version -1)
    inputs: tuple[tuple[str, str], ...]  #: (model input, ensemble tensor read)
    outputs: tuple[tuple[str, str], ...]  #: (model output, ensemble tensor written)

    def describe(self) -> str:
        """``step N (model 'x')`` for error messages."""
        return f"step {self.index} (model '{self.model}')"


def parse_steps(config: mc.ModelConfig) -> tuple[Step, ...]:
    """The steps of an ensemble config, checked to form a DAG from its inputs to its outputs."""
    where = f"ensemble {config.name!r}"
    if not config.ensemble_scheduling.step:
        msg = f"{where}: ensemble_scheduling has no step; add step [{{ model_name: ... }}]"
        raise ServeError(msg)
    steps = []
    for i, s in enumerate(config.ensemble_scheduling.step):
        if not s.model_name:
            msg = f"{where}: step {i} has no model_name"
            raise ServeError(msg)
        if s.model_name == config.name:
            msg = f"{where}: step {i} calls the ensemble itself; an ensemble cannot recurse"
            raise ServeError(msg)
        version = "" if s.model_version <= 0 else str(s.model_version)
        steps.append(
            Step(
                i,
                s.model_name,
                version,
                tuple(sorted(s.input_map.items())),
                tuple(sorted(s.output_map.items())),
            )
        )
    made: dict[str, str] = {t.name: "an ensemble input" for t in config.input}
    for step in steps:
        for _, tensor in step.outputs:
            if tensor in made:
                msg = (
                    f"{where}: tensor {tensor!r} is written by {step.describe()} and by "
                    f"{made[tensor]}; give each ensemble tensor one producer"
                )
                raise ServeError(msg)
            made[tensor] = step.describe()
    for step in steps:
        for model_input, tensor in step.inputs:
            if tensor not in made:
                msg = (
                    f"{where}: {step.describe()} reads tensor {tensor!r} (for input "
                    f"{model_input!r}) which no step writes and is no ensemble input"
                )
                raise ServeError(msg)
    for out in config.output:
        if out.name not in made or made[out.name] == "an ensemble input":
            msg = f"{where}: output {out.name!r} is written by no step; map a step output to it"
            raise ServeError(msg)
    _check_acyclic(where, steps, {t.name for t in config.input})
    return tuple(steps)


def _check_acyclic(where: str, steps: Sequence[Step], inputs: set[str]) -> None:
    available = set(inputs)
    remaining = list(steps)
    while remaining:
        ready = [s for s in remaining if all(t in available for _, t in s.inputs)]
        if not ready:
            names = ", ".join(s.describe() for s in remaining)
            msg = f"{where}: steps form a cycle ({names} wait on each other); make it a DAG"
            raise ServeError(msg)
        for s in ready:
            available.update(t for _, t in s.outputs)
            remaining.remove(s)


class _Run:
    """The state of one ensemble request while its steps run (all on the event loop)."""

    __slots__ = ("over", "pending", "started", "tensors", "todo")

    def __init__(self, tensors: dict[str, np.ndarray], steps: Sequence[Step]) -> None:
        self.tensors = tensors
        self.todo = list(steps)
        self.pending = 0
        self.started = time.monotonic_ns()
        self.over = False  # answered (or failed): later step answers are ignored


class EnsembleModel(ServedModel):
    """An ensemble version: validates requests, runs the step DAG, answers with its outputs."""

    def __init__(
        self,
        config: mc.ModelConfig,
        version: int,
        labels: dict[str, list[str]],
        path: Path,
        budget: MemoryBudget | None,
        resolver: Resolver | None,
    ) -> None:
        super().__init__(config, version, [], labels, path, budget)
        self.steps = parse_steps(config)
        self._resolver = resolver
        self._running = 0

    def composing_models(self) -> list[str]:
        """Names of the models the steps call (each once, in step order)."""
        return list(dict.fromkeys(s.model for s in self.steps))

    # ------------------------------------------------------------------ request path
    def submit(self, request: InferRequest, shm: SharedMemoryManager | None, done: Done) -> None:
        """Validate the request and start the steps it can; `done` gets the answer."""
        start = time.monotonic_ns()
        try:
            if self._resolver is None:
                msg = f"ensemble '{self.name}' was loaded without a model repository to call"
                raise ServeError(msg)
            arrays = self._input_arrays(request, shm)
            batch = validate_inputs(request, self.inputs, arrays, self.max_batch_size)
            wanted = self._wanted_outputs(request)
            nbytes = request_bytes(arrays)
            self._budget.take(nbytes, self.name)
        except Exception as exc:  # noqa: BLE001 - any invalid request is answered with its error
            self.stats.fail.add(time.monotonic_ns() - start)
            done(None, exc)
            return
        p = _Pending(arrays, batch, (), request, wanted, shm, done, start, nbytes, 0)
        run = _Run(dict(arrays), self.steps)
        self._running += 1
        self.stats.pending += 1
        self._advance(p, run)

    def _advance(self, p: _Pending, run: _Run) -> None:
        """Start every step whose inputs exist; answer when no step is left."""
        ready = [s for s in run.todo if all(t in run.tensors for _, t in s.inputs)]
        for step in ready:
            run.todo.remove(step)
            run.pending += 1
        for step in ready:
            if run.over:
                return
            self._start(p, run, step)
        if not run.todo and not run.pending and not run.over:
            self._finish(p, run, None)

    def _start(self, p: _Pending, run: _Run, step: Step) -> None:
        assert self._resolver is not None
        inputs = tuple(
            InferInput(name, wire_datatype(a.dtype), a.shape, a)
            for name, a in ((m, run.tensors[t]) for m, t in step.inputs)
        )
        outputs = tuple(RequestedOutput(m) for m, _ in step.outputs)
        request = InferRequest(
            step.model, step.version, p.request.id, inputs, outputs, p.request.parameters
        )

        def step_done(response: InferResponse | None, exc: Exception | None) -> None:
            run.pending -= 1
            if run.over:
                return
            if exc is not None or response is None:
                self._finish(p, run, self._step_error(step, exc))
                return
            names = dict(step.outputs)
            for out in response.outputs:
                run.tensors[names[out.name]] = out.data
            self._advance(p, run)

        try:
            model = self._resolver(step.model, step.version)
        except Exception as exc:  # noqa: BLE001 - reported as the step's failure
            step_done(None, exc)
            return
        model.submit(request, None, step_done)

    def _step_error(self, step: Step, exc: Exception | None) -> Exception:
        text = f"in ensemble '{self.name}', {step.describe()} failed: {exc}"
        if isinstance(exc, HepinferError):
            return type(exc)(text)
        return ServeError(text)

    def _finish(self, p: _Pending, run: _Run, exc: Exception | None) -> None:
        run.over = True
        self._running -= 1
        self.stats.pending -= 1
        if exc is not None:
            self._fail(p, exc)
            return
        now = time.monotonic_ns()
        self.stats.execution_count += 1
        self.stats.inference_count += p.batch
        self.stats.compute_infer.add(now - run.started)
        self._answer(p, {n: run.tensors[n] for n in self.output_names})

    # ------------------------------------------------------------------ life cycle
    @property
    def queue_length(self) -> int:
        """Ensemble requests whose steps still run."""
        return self._running

    async def finish(self, timeout_s: float = 30.0) -> None:
        """Wait (at most `timeout_s`) for the running ensemble requests to finish."""
        deadline = time.monotonic() + timeout_s
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.001)

    def drain(self) -> None:
        """Nothing is queued in an ensemble itself (steps queue in the composing models)."""

    def release(self) -> None:
        """An ensemble holds no instances."""
