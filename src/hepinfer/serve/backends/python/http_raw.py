"""The python backend's raw path for KServe v2 HTTP infer requests (JSON and binary tensors).

`http_plan` reads a request's JSON header once and says what the raw path needs: where each
input's bytes lie in the body (binary tensor data, ``binary_data_size``), or the input as an
array (a JSON ``data`` list), the outputs wanted and whether each is answered as binary data,
the request id and parameters. Headers repeat from request to request (perf_analyzer, any
client sending binary tensors with a fixed id), so a model keeps the plans of binary requests
by the header's bytes and the serving loop then reads no JSON at all. Anything unusual
(shared memory, classification, a size or shape that does not fit, malformed JSON) gives
None: the request then takes the decoded path, which answers it, errors included, as always.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from hepinfer.errors import HepinferError
from hepinfer.protocol.messages import RequestedOutput
from hepinfer.protocol.tensors import MAX_SPAN, from_list
from hepinfer.serve.validate import TensorSpec

#: the keys of an input's parameters the raw path takes (others: shared memory, ...)
_INPUT_PARAMETERS = frozenset(("binary_data_size",))
#: the keys of a requested output's parameters it takes (not classification, shared memory)
_OUTPUT_PARAMETERS = frozenset(("binary_data",))


class HttpPlan(NamedTuple):
    """What one HTTP infer request (its JSON header) asks of a model, checked."""

    id: str
    parameters: Mapping[str, Any]
    #: per binary input: name, numpy dtype str, shape, offset in the binary data, byte count
    binary: tuple[tuple[str, str, tuple[int, ...], int, int], ...]
    #: the inputs sent as JSON ``data`` lists, as arrays (then the plan is not kept; a
    #: request's inputs come all as binary data or all as JSON)
    arrays: Mapping[str, np.ndarray]
    key: tuple[tuple[int, ...], ...]  #: the batcher's key (shapes without batch)
    batch: int
    wanted: tuple[RequestedOutput, ...]
    #: per wanted output: answered as binary data (else as a JSON ``data`` list)
    reply: tuple[bool, ...]
    binary_bytes: int  #: bytes of binary tensor data the body must hold after the header
    nbytes: int  #: the inputs' bytes (the memory budget's count)


def _is_int(value: object) -> bool:
    return type(value) is int


def http_plan(
    header: bytes,
    specs: Mapping[str, tuple[TensorSpec, int, str]],
    outputs: Mapping[str, TensorSpec],
    max_batch_size: int,
) -> HttpPlan | None:
    """The plan of a request with this JSON header, or None when the raw path cannot take it.

    `specs`: per model input (spec, bytes per element, numpy dtype str); every check is the
    decoded path's, which then gives the precise error.
    """
    try:
        head = json.loads(header)
    except (UnicodeDecodeError, ValueError):
        return None
    if type(head) is not dict:
        return None
    parameters = head.get("parameters", {})
    inputs = head.get("inputs")
    requested = head.get("outputs", []) or []
    if type(parameters) is not dict or type(inputs) is not list or type(requested) is not list:
        return None
    if len(inputs) != len(specs):
        return None
    batched = max_batch_size > 0
    batch = 0
    pos = 0
    nbytes = 0
    binary: list[tuple[str, str, tuple[int, ...], int, int]] = []
    arrays: dict[str, np.ndarray] = {}
    key: list[tuple[int, ...]] = []
    names: set[str] = set()
    for tensor in inputs:
        if type(tensor) is not dict:
            return None
        name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
        if type(name) is not str or type(shape) is not list:
            return None
        entry = specs.get(name)
        if entry is None or name in names:
            return None
        spec, itemsize, dtype = entry
        if datatype != spec.datatype or not all(_is_int(d) and d >= 0 for d in shape):
            return None
        dims = tuple(shape)
        if batched:
            if not dims or (batch and dims[0] != batch):
                return None
            batch = dims[0]
            inner = dims[1:]
        else:
            inner = dims
        if not spec.matches(inner):
            return None
        if math.prod(d for d in dims if d) > MAX_SPAN:
            return None
        count = math.prod(dims)
        params = tensor.get("parameters", {})
        if type(params) is not dict or not params.keys() <= _INPUT_PARAMETERS:
            return None
        size = count * itemsize
        if "binary_data_size" in params:
            if params["binary_data_size"] != size or not _is_int(params["binary_data_size"]):
                return None
            binary.append((name, dtype, dims, pos, size))
            pos += size
        else:
            data = tensor.get("data")
            if type(data) is not list:
                return None
            try:
                array = from_list(name, data, datatype, dims)
            except HepinferError:
                return None
            arrays[name] = array
        names.add(name)
        nbytes += size
        key.append(inner)
    if batched and not 1 <= batch <= max_batch_size:
        return None
    if binary and arrays:
        return None  # JSON and binary inputs mixed: rare, left to the decoded path
    default_binary = bool(parameters.get("binary_data_output", False))
    wanted: list[RequestedOutput] = []
    reply: list[bool] = []
    for item in requested:
        if type(item) is not dict:
            return None
        name = item.get("name")
        params = item.get("parameters", {})
        if type(name) is not str or name not in outputs or type(params) is not dict:
            return None
        if not params.keys() <= _OUTPUT_PARAMETERS:
            return None
        binary_out = bool(params.get("binary_data", default_binary))
        wanted.append(RequestedOutput(name, 0, binary_out))
        reply.append(binary_out)
    if not wanted:
        wanted = [RequestedOutput(n) for n in outputs]
        reply = [default_binary] * len(wanted)
    return HttpPlan(
        str(head.get("id", "")),
        parameters,
        tuple(binary),
        arrays,
        tuple(key),
        batch or 1,
        tuple(wanted),
        tuple(reply),
        pos,
        nbytes,
    )
