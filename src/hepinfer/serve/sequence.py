"""Triton's sequence batcher: correlation IDs, control inputs and implicit state.

A model whose config has ``sequence_batching`` serves *sequences*: every request carries a
correlation ID (``sequence_id``, a non-zero integer or non-empty string) and the first one
``sequence_start``, the last ``sequence_end`` (tritonclient's ``infer(sequence_id=...,
sequence_start=..., sequence_end=...)``). The server

- refuses a request without an ID, or one that continues a sequence it does not know (never
  started, ended, or idle past ``max_sequence_idle_microseconds``, 1 s by default), with
  Triton 2.51's messages;
- feeds the model the control inputs the config declares (``CONTROL_SEQUENCE_START``,
  ``_END``, ``_READY`` with their ``int32/fp32/bool_false_true`` values, ``_CORRID`` in its
  ``data_type``), shaped ``[batch, 1]`` for a batching model and ``[1]`` otherwise;
- keeps each sequence's implicit state (``state { input_name output_name data_type dims
  initial_state }``): the state input of a sequence's first request is its initial state
  (zeros, or ``initial_state``'s ``zero_data`` / ``data_file`` under ``<model>/initial_state/``),
  every later one the state output of the request before;
- runs a sequence's requests in order, at most one per batch, batching requests of different
  sequences together (both strategies: ``direct`` and ``oldest`` with their
  ``max_queue_delay_microseconds`` and ``oldest``'s ``preferred_batch_size``).

Differences from Triton: no fixed batch slots (``direct`` batches like ``oldest``, with no
padding rows of READY=false), and no limit on concurrent sequences (``max_candidate_sequences``
is not enforced); a python-backend model gets the control inputs but keeps its own state.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ProtocolError, ServeError
from hepinfer.protocol.dtypes import config_to_wire, numpy_dtype
from hepinfer.protocol.messages import InferRequest

_Control = mc.ModelSequenceBatching.Control
_KINDS = {
    _Control.CONTROL_SEQUENCE_START: "start",
    _Control.CONTROL_SEQUENCE_END: "end",
    _Control.CONTROL_SEQUENCE_READY: "ready",
    _Control.CONTROL_SEQUENCE_CORRID: "corrid",
}
#: Triton's default max_sequence_idle_microseconds
DEFAULT_IDLE_US = 1_000_000


def _dtype(data_type: int) -> np.dtype:
    return numpy_dtype(config_to_wire(mc.DataType.Name(data_type)))


@dataclass(frozen=True)
class ControlInput:
    """One control tensor: its input name, kind and the false/true values (or CORRID type)."""

    name: str
    kind: str  #: start, end, ready or corrid
    dtype: np.dtype
    false: object = 0
    true: object = 1


@dataclass(frozen=True)
class StateSpec:
    """One implicit state: the input that reads it, the output that writes it, its start."""

    input_name: str
    output_name: str
    initial: np.ndarray  #: the state of a sequence's first request (no batch dimension)


@dataclass(slots=True, eq=False)
class LiveSequence:
    """One live sequence: its ID, state and bookkeeping."""

    corrid: int | str
    state: dict[str, np.ndarray] = field(default_factory=dict)
    last_ns: int = 0
    pending: int = 0  #: admitted requests not yet answered
    busy: bool = False  #: a request of it is running


def _controls(config: mc.ModelConfig, where: str) -> list[ControlInput]:
    out = []
    for ci in config.sequence_batching.control_input:
        for c in ci.control:
            kind = _KINDS.get(c.kind)
            if kind is None:
                msg = (
                    f"{where}: control input {ci.name!r} has kind {c.kind}, which is not supported"
                )
                raise ServeError(msg)
            if kind == "corrid":
                dtype = _dtype(c.data_type or mc.TYPE_UINT64)
                out.append(ControlInput(ci.name, kind, dtype))
                continue
            pairs = (
                (np.dtype(np.int32), list(c.int32_false_true)),
                (np.dtype(np.float32), list(c.fp32_false_true)),
                (np.dtype(np.bool_), list(c.bool_false_true)),
            )
            given = [(dt, v) for dt, v in pairs if v]
            if len(given) != 1 or len(given[0][1]) != 2:
                msg = (
                    f"{where}: control input {ci.name!r} ({kind}) needs exactly one of "
                    "int32_false_true, fp32_false_true, bool_false_true with two values "
                    "(false, true), e.g. int32_false_true: [0, 1]"
                )
                raise ServeError(msg)
            dtype, values = given[0]
            out.append(ControlInput(ci.name, kind, dtype, values[0], values[1]))
    return out


def _initial(
    state: mc.ModelSequenceBatching.State, model_dir: Path | None, where: str
) -> np.ndarray:
    dtype = _dtype(state.data_type)
    inits = list(state.initial_state)
    if not inits:
        if any(d < 0 for d in state.dims):
            msg = (
                f"{where}: state {state.input_name!r} has variable dims {list(state.dims)}; "
                "give an initial_state with fixed dims"
            )
            raise ServeError(msg)
        return np.zeros(tuple(state.dims), dtype)
    init = inits[0]
    shape = tuple(init.dims)
    if init.WhichOneof("state_data") == "data_file":
        if model_dir is None:
            msg = f"{where}: initial_state data_file {init.data_file!r} needs the model folder"
            raise ServeError(msg)
        path = model_dir / "initial_state" / init.data_file
        if not path.resolve().is_relative_to((model_dir / "initial_state").resolve()):
            msg = f"{where}: initial_state data_file {init.data_file!r} leaves initial_state/"
            raise ServeError(msg)
        data = np.fromfile(path, dtype)
        count = int(np.prod(shape))
        if data.size < count:
            msg = f"{where}: initial_state file {path} holds {data.size} values, {count} needed"
            raise ServeError(msg)
        return data[:count].reshape(shape)
    return np.zeros(shape, dtype)


class SequenceBatcher:
    """The sequences of one model version (state on the event loop only)."""

    def __init__(self, config: mc.ModelConfig, model_dir: Path | None = None) -> None:
        where = f"model {config.name!r}: sequence_batching"
        if config.HasField("dynamic_batching"):
            msg = f"model {config.name!r}: use either dynamic_batching or sequence_batching"
            raise ServeError(msg)
        sb = config.sequence_batching
        self.model = config.name
        self.batched = config.max_batch_size > 0
        self.idle_ns = (sb.max_sequence_idle_microseconds or DEFAULT_IDLE_US) * 1000
        self.controls = _controls(config, where)
        self.states = [
            StateSpec(s.input_name, s.output_name, _initial(s, model_dir, where)) for s in sb.state
        ]
        strategy = sb.oldest if sb.WhichOneof("strategy_choice") == "oldest" else sb.direct
        self.delay_ns = strategy.max_queue_delay_microseconds * 1000
        self.preferred = frozenset(sb.oldest.preferred_batch_size)
        self._live: dict[int | str, LiveSequence] = {}

    @property
    def state_outputs(self) -> list[str]:
        """The outputs the server keeps as state (run with the model's, never returned)."""
        return [s.output_name for s in self.states]

    def admit(
        self, request: InferRequest, arrays: dict[str, np.ndarray], batch: int
    ) -> LiveSequence:
        """Check the request's sequence flags, add the control inputs to `arrays`, and
        return its sequence (ProtocolError with Triton's message when it has none).
        """
        params = request.parameters
        corrid = params.get("sequence_id", 0)
        if isinstance(corrid, bool) or not isinstance(corrid, int | str) or corrid in (0, ""):
            msg = (
                f"inference request to model '{self.model}' must specify a non-zero or "
                "non-empty correlation ID"
            )
            raise ProtocolError(msg)
        start = bool(params.get("sequence_start", False))
        end = bool(params.get("sequence_end", False))
        now = time.monotonic_ns()
        self.expire(now)
        seq = self._live.get(corrid)
        if start:
            seq = LiveSequence(corrid)
        elif seq is None:
            msg = (
                f"inference request for sequence {corrid} to model '{self.model}' must "
                "specify the START flag on the first request of the sequence"
            )
            raise ProtocolError(msg)
        rows = (batch, 1) if self.batched else (1,)
        for c in self.controls:
            if c.kind == "corrid":
                try:
                    value = np.full(rows, corrid, c.dtype)
                except (TypeError, ValueError, OverflowError):
                    msg = (
                        f"sequence_id {corrid!r} of a request to model '{self.model}' does not "
                        f"fit its CORRID control input {c.name!r} ({c.dtype}); send an ID of "
                        "that type"
                    )
                    raise ProtocolError(msg) from None
            else:
                on = {"start": start, "end": end, "ready": True}[c.kind]
                value = np.full(rows, c.true if on else c.false, c.dtype)
            arrays[c.name] = value
        if end:
            self._live.pop(corrid, None)
        else:
            self._live[corrid] = seq
        seq.last_ns = now
        seq.pending += 1
        if start and self.states:
            seq.state = {s.input_name: s.initial for s in self.states}
        return seq

    def expire(self, now: int) -> None:
        """Forget sequences idle (nothing queued or running) past the idle limit."""
        stale = [
            k for k, s in self._live.items() if s.pending == 0 and now - s.last_ns > self.idle_ns
        ]
        for k in stale:
            del self._live[k]

    def feed_state(self, seq: LiveSequence, arrays: dict[str, np.ndarray], batch: int) -> None:
        """Put the sequence's current state into a request's inputs (at launch)."""
        for s in self.states:
            value = seq.state[s.input_name]
            arrays[s.input_name] = (
                np.broadcast_to(value, (batch, *value.shape)) if self.batched else value
            )

    def keep_state(self, seq: LiveSequence, results: Mapping[str, np.ndarray]) -> None:
        """Store the state outputs of a finished request as the sequence's next state."""
        for s in self.states:
            value = results.get(s.output_name)
            if value is None:
                msg = (
                    f"model '{self.model}' did not produce its state output "
                    f"{s.output_name!r} (sequence_batching state)"
                )
                raise ServeError(msg)
            value = np.asarray(value)
            seq.state[s.input_name] = np.array(value[-1] if self.batched else value)

    def warmup_arrays(self, batch: int) -> dict[str, np.ndarray]:
        """Control and state inputs for a warm-up run: READY true, START true, initial state."""
        rows = (batch, 1) if self.batched else (1,)
        out: dict[str, np.ndarray] = {}
        for c in self.controls:
            if c.kind == "corrid":
                out[c.name] = np.ones(rows, c.dtype)
            else:
                on = c.kind in ("start", "ready")
                out[c.name] = np.full(rows, c.true if on else c.false, c.dtype)
        for s in self.states:
            v = s.initial
            out[s.input_name] = np.broadcast_to(v, (batch, *v.shape)) if self.batched else v
        return out
