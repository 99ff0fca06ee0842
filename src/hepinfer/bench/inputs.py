"""What the requests carry: perf_analyzer's ``--input-data zero | random | DIR | FILE.json``.

- ``random`` (default): uniform [0, 1) floats, small integers; ``zero``: zeros.
- ``DIR``: one file per input, named as the input, with the raw little-endian bytes of one
  batch-1 tensor (text, one string per line, for BYTES inputs).
- ``FILE.json``: perf_analyzer's format, ``{"data": [STEP, ...], "validation_data": [...]}``
  where a STEP maps each input name to its batch-1 content: a (nested) list, or
  ``{"content": [...], "shape": [...]}``, or ``{"b64": "..."}``. ``validation_data`` (optional,
  one entry per step) gives the outputs the server must answer. A list of streams (a list of
  lists of steps, for sequence models) is read as its steps in order.

Every step is one batch-1 sample; a request of batch size B carries B consecutive steps
(wrapping round), and request k starts at step k*B.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.client.model import TensorInfo
from hepinfer.errors import BenchError

KINDS = ("zero", "random")
#: distinct requests cycled through with generated (zero/random) data
GENERATED_STEPS = 8


@dataclass(frozen=True)
class Step:
    """One batch-1 sample: every input's array (no batch dim) and the outputs expected."""

    inputs: tuple[np.ndarray, ...]
    expected: Mapping[str, np.ndarray]


def random_tensor(info: TensorInfo, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random data of the tensor's dtype (uniform in [0, 1) for floats, small integers)."""
    dtype = info.dtype
    if info.datatype == "BYTES":
        return rng.integers(0, 1000, shape).astype(str).astype(object)
    if info.datatype == "BOOL":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind == "f":
        return rng.random(shape, dtype=np.float64).astype(dtype)
    return rng.integers(0, 100, shape).astype(dtype)


def generated_steps(
    kind: str, inputs: Sequence[TensorInfo], dims: Sequence[tuple[int, ...]], seed: int
) -> list[Step]:
    """`GENERATED_STEPS` steps of zeros or random data."""
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(GENERATED_STEPS if kind == "random" else 1):
        arrays = tuple(
            np.zeros(d, dtype=i.dtype if i.datatype != "BYTES" else object)
            if kind == "zero"
            else random_tensor(i, d, rng)
            for i, d in zip(inputs, dims, strict=True)
        )
        if kind == "zero":
            arrays = tuple(
                np.full(a.shape, "0", dtype=object) if a.dtype == object else a for a in arrays
            )
        steps.append(Step(arrays, {}))
    return steps


def _array(
    source: str, name: str, value: Any, info: TensorInfo, dims: tuple[int, ...] | None
) -> np.ndarray:
    """One tensor from a JSON value (list, {"content", "shape"} or {"b64"})."""
    shape = dims
    if isinstance(value, dict):
        if "shape" in value:
            shape = tuple(int(d) for d in value["shape"])
        if "b64" in value:
            raw = base64.b64decode(value["b64"])
            dtype = info.dtype.newbyteorder("<")
            if info.datatype == "BYTES":
                msg = f"{source}: input {name!r} is BYTES; give its strings as a list, not b64"
                raise BenchError(msg)
            flat = np.frombuffer(raw, dtype=dtype)
        elif "content" in value:
            value = value["content"]
        else:
            msg = f"{source}: input {name!r} is an object without 'content' or 'b64'"
            raise BenchError(msg)
    if not isinstance(value, dict):
        try:
            kind: Any = object if info.datatype == "BYTES" else info.dtype
            flat = np.asarray(value, dtype=kind).reshape(-1)
        except (TypeError, ValueError) as exc:
            msg = f"{source}: input {name!r} is not a list of {info.datatype} values ({exc})"
            raise BenchError(msg) from exc
    if shape is None:
        msg = (
            f"{source}: input {name!r} has variable dims {list(info.dims)}; give its shape "
            f'in the file ({{"content": [...], "shape": [...]}}) or with --shape'
        )
        raise BenchError(msg)
    count = int(np.prod(shape, dtype=np.int64))
    if flat.size != count:
        msg = (
            f"{source}: input {name!r} has {flat.size} values, its shape {list(shape)} "
            f"needs {count}"
        )
        raise BenchError(msg)
    return flat.reshape(shape)


def _known(dims: tuple[int, ...]) -> tuple[int, ...] | None:
    return None if any(d < 0 for d in dims) else dims


def json_steps(
    path: Path,
    inputs: Sequence[TensorInfo],
    outputs: Sequence[TensorInfo],
    dims: Sequence[tuple[int, ...] | None],
) -> list[Step]:
    """The steps of a perf_analyzer input-data JSON file."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"--input-data {path}: cannot read it as JSON ({exc})"
        raise BenchError(msg) from exc
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list) or not data:
        msg = f'--input-data {path}: needs {{"data": [{{"INPUT": [...]}}, ...]}} with one or more steps'
        raise BenchError(msg)
    if all(isinstance(s, list) for s in data):  # streams of steps (sequence models)
        data = [step for stream in data for step in stream]
    validation = doc.get("validation_data", [])
    if all(isinstance(s, list) for s in validation):
        validation = [step for stream in validation for step in stream]
    if validation and len(validation) != len(data):
        msg = (
            f"--input-data {path}: validation_data has {len(validation)} entries, data has "
            f"{len(data)}; give one per step"
        )
        raise BenchError(msg)
    names = [i.name for i in inputs]
    out_info = {o.name: o for o in outputs}
    steps = []
    for index, entry in enumerate(data):
        source = f"--input-data {path} step {index}"
        if not isinstance(entry, dict):
            msg = f"{source}: is not an object mapping input names to data"
            raise BenchError(msg)
        missing = [n for n in names if n not in entry]
        unknown = sorted(set(entry) - set(names))
        if missing or unknown:
            msg = f"{source}: missing input(s) {missing}, unknown {unknown}; the model's inputs are {names}"
            raise BenchError(msg)
        arrays = tuple(
            _array(source, i.name, entry[i.name], i, d) for i, d in zip(inputs, dims, strict=True)
        )
        expected: dict[str, np.ndarray] = {}
        if validation:
            for name, value in validation[index].items():
                if name not in out_info:
                    msg = f"{source}: validation_data names unknown output {name!r}; outputs: {sorted(out_info)}"
                    raise BenchError(msg)
                info = out_info[name]
                expected[name] = _array(source, name, value, info, _known(info.dims))
        steps.append(Step(arrays, expected))
    return steps


def directory_steps(
    path: Path, inputs: Sequence[TensorInfo], dims: Sequence[tuple[int, ...] | None]
) -> list[Step]:
    """One step from a directory with a raw (or text, for BYTES) file per input."""
    arrays = []
    for info, d in zip(inputs, dims, strict=True):
        file = path / info.name
        if not file.is_file():
            msg = f"--input-data {path}: no file {info.name!r} for input {info.name!r}"
            raise BenchError(msg)
        if info.datatype == "BYTES":
            value: Any = file.read_text().splitlines()
        else:
            value = np.fromfile(file, dtype=info.dtype.newbyteorder("<")).tolist()
        arrays.append(_array(f"--input-data {path}", info.name, value, info, d))
    return [Step(tuple(arrays), {})]


def load_steps(
    spec: str,
    inputs: Sequence[TensorInfo],
    outputs: Sequence[TensorInfo],
    dims: Sequence[tuple[int, ...] | None],
    seed: int,
) -> list[Step]:
    """The steps `--input-data SPEC` gives (dims: each input's shape, None where variable)."""
    if spec in KINDS:
        for info, d in zip(inputs, dims, strict=True):
            if d is None:
                example = ",".join("N" if v < 0 else str(v) for v in info.dims)
                msg = (
                    f"input {info.name!r} has variable dims {list(info.dims)}; give its shape "
                    f"with --shape {info.name}:{example} (or in an --input-data JSON file)"
                )
                raise BenchError(msg)
        return generated_steps(spec, inputs, [d for d in dims if d is not None], seed)
    path = Path(spec)
    if path.is_dir():
        return directory_steps(path, inputs, dims)
    if path.is_file():
        return json_steps(path, inputs, outputs, dims)
    msg = f"--input-data {spec!r} is not 'zero', 'random', a directory or a JSON file"
    raise BenchError(msg)


def batch(steps: Sequence[Step], first: int, size: int, batching: bool) -> list[np.ndarray]:
    """The input arrays of one request: `size` steps from `first` (stacked if batching)."""
    chosen = [steps[(first + k) % len(steps)] for k in range(size)]
    if not batching:
        return list(chosen[0].inputs)
    count = len(chosen[0].inputs)
    shapes = {tuple(s.inputs[i].shape for i in range(count)) for s in chosen}
    if len(shapes) > 1:
        msg = "a batched request needs every step's inputs to have the same shape; use -b 1"
        raise BenchError(msg)
    return [np.stack([s.inputs[i] for s in chosen]) for i in range(count)]
