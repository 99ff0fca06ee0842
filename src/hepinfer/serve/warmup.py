"""Triton's model warm-up (``model_warmup`` in config.pbtxt), run before a model is READY.

Each sample ``{ name batch_size count inputs { key: NAME value { data_type dims
zero_data | random_data | input_data_file } } }`` is run on every instance of the model, as
Triton does: `batch_size` requests of one row each (``[1] + dims`` for a batching model),
executed together (one batch for most backends, one ``execute`` call with a list of requests
for a python-backend model), ``count`` times (0 or unset: once). ``input_data_file`` is read
from ``<model>/warmup/`` (raw row-major bytes, the first ``prod(dims)`` values; for
``TYPE_STRING`` 4-byte little-endian lengths then bytes, as Triton reads it). A sequence model
also gets its control inputs (START and READY true) and its initial state.

Loading runs the warm-up in the loading thread, so the model becomes READY only after it;
a sample that fails fails the load with Triton's reason ``failed to run warmup sample
'NAME': ...``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import HepinferError, ServeError
from hepinfer.protocol.dtypes import config_to_wire, numpy_dtype
from hepinfer.serve.backends.base import ModelInstance
from hepinfer.serve.sequence import SequenceBatcher


@dataclass(frozen=True)
class WarmupSample:
    """One warm-up sample: the inputs of one request (no batch dimension) and repetitions."""

    name: str
    batch_size: int
    count: int
    inputs: Mapping[str, np.ndarray]


def _strings(raw: bytes, count: int, where: str) -> np.ndarray:
    out = np.empty(count, dtype=np.object_)
    pos = 0
    for i in range(count):
        if pos + 4 > len(raw):
            msg = f"{where}: the file holds {i} strings, {count} needed"
            raise ServeError(msg)
        (n,) = struct.unpack_from("<I", raw, pos)
        out[i] = raw[pos + 4 : pos + 4 + n]
        pos += 4 + n
    return out


def _data(
    value: mc.ModelWarmup.Input, model_dir: Path, where: str, rng: np.random.Generator
) -> np.ndarray:
    """The array of one warm-up input (shape `dims`)."""
    dtype = numpy_dtype(config_to_wire(mc.DataType.Name(value.data_type)))
    shape = tuple(int(d) for d in value.dims)
    if any(d < 0 for d in shape):
        msg = f"{where}: dims {list(shape)} must be fixed (no -1) in a warm-up sample"
        raise ServeError(msg)
    count = int(np.prod(shape))
    source = value.WhichOneof("input_data_type")
    if source == "input_data_file":
        folder = (model_dir / "warmup").resolve()
        path = (folder / value.input_data_file).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            msg = (
                f"{where}: input_data_file {value.input_data_file!r} is not a file in "
                f"{model_dir / 'warmup'}"
            )
            raise ServeError(msg)
        raw = path.read_bytes()
        if dtype == np.object_:
            return _strings(raw, count, where).reshape(shape)
        if len(raw) < count * dtype.itemsize:
            msg = (
                f"{where}: input_data_file {path} holds {len(raw)} bytes, "
                f"{count * dtype.itemsize} needed for dims {list(shape)}"
            )
            raise ServeError(msg)
        return np.frombuffer(raw, dtype, count).reshape(shape).copy()
    if source == "random_data":
        if dtype == np.object_:
            return np.array([b"x" * int(n) for n in rng.integers(0, 8, count)], np.object_).reshape(
                shape
            )
        if dtype.kind == "f":
            return rng.random(shape).astype(dtype)
        if dtype.kind == "b":
            return rng.integers(0, 2, shape).astype(dtype)
        return rng.integers(0, 100, shape).astype(dtype)
    if dtype == np.object_:
        return np.full(shape, b"", np.object_)
    return np.zeros(shape, dtype)


def warmup_samples(config: mc.ModelConfig, model_dir: Path) -> list[WarmupSample]:
    """The configuration's warm-up samples, checked (ServeError naming the sample)."""
    rng = np.random.default_rng(0)
    declared = {t.name for t in config.input}
    samples = []
    for w in config.model_warmup:
        where = f"model {config.name!r}: model_warmup {w.name!r}"
        batch = w.batch_size or 1
        if config.max_batch_size == 0 and batch != 1:
            msg = f"{where}: batch_size {w.batch_size} must be 1 for a model without batching"
            raise ServeError(msg)
        if config.max_batch_size and batch > config.max_batch_size:
            msg = f"{where}: batch_size {batch} exceeds max_batch_size {config.max_batch_size}"
            raise ServeError(msg)
        unknown = sorted(set(w.inputs) - declared)
        if unknown:
            msg = f"{where}: inputs {unknown} are not inputs of the model ({sorted(declared)})"
            raise ServeError(msg)
        inputs = {
            name: _data(v, model_dir, f"{where} input {name!r}", rng)
            for name, v in w.inputs.items()
        }
        samples.append(WarmupSample(w.name, batch, max(w.count, 1), inputs))
    return samples


def run_warmup(config: mc.ModelConfig, instances: Sequence[ModelInstance], model_dir: Path) -> None:
    """Run every warm-up sample on every instance (blocking); ServeError on the first failure."""
    samples = warmup_samples(config, model_dir)
    if not samples:
        return
    sequences = SequenceBatcher(config, model_dir) if config.HasField("sequence_batching") else None
    outputs = [t.name for t in config.output]
    if sequences is not None:
        outputs += sequences.state_outputs
    batched = config.max_batch_size > 0
    for sample in samples:
        one = {n: (a[np.newaxis] if batched else a) for n, a in sample.inputs.items()}
        if sequences is not None:
            one.update(sequences.warmup_arrays(1))
        for instance in instances:
            for _ in range(sample.count):
                try:
                    _run(instance, one, sample.batch_size, outputs, batched)
                except HepinferError as exc:
                    msg = f"failed to run warmup sample '{sample.name}': {exc}"
                    raise ServeError(msg) from None
                except Exception as exc:  # noqa: BLE001 - any backend failure fails the load
                    msg = (
                        f"failed to run warmup sample '{sample.name}': {type(exc).__name__}: {exc}"
                    )
                    raise ServeError(msg) from None


def _run(
    instance: ModelInstance,
    one: dict[str, np.ndarray],
    batch_size: int,
    outputs: list[str],
    batched: bool,
) -> None:
    """`batch_size` one-row requests: a list for ``execute`` (python backend), else one batch."""
    execute = getattr(instance, "execute", None)
    if execute is not None:
        from hepinfer.serve.backends.python.instance import PyRequest

        requests = [PyRequest("", "{}", one, outputs) for _ in range(batch_size)]
        for result in execute(requests, None):
            if isinstance(result, str):
                raise ServeError(result)
        return
    feed = {n: np.concatenate([a] * batch_size) for n, a in one.items()} if batched else one
    instance.run(feed, outputs)
