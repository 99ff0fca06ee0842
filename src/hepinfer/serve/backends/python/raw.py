"""A serialized ModelInferRequest read without protobuf, for the python backend's raw path.

The raw path (`PythonModel.submit_raw`) needs only the request's top-level fields: the model
and version to route it, the id and parameters, the input and output tensor descriptions (as
their serialized bytes: they repeat from request to request, so a model validates each
distinct description once and keeps the result) and views of the raw input contents. `scan`
walks the message's fields once; anything it does not expect (typed contents, an unknown or
repeated field, a truncated message) makes it answer None, and the request then takes the
decoded path, which gives the precise error.
"""

from __future__ import annotations

from typing import NamedTuple

#: ModelInferRequest field numbers (service_pb2)
_MODEL_NAME, _MODEL_VERSION, _ID, _PARAMETERS, _INPUTS, _OUTPUTS, _RAW = 1, 2, 3, 4, 5, 6, 7
#: wire type of length-delimited fields (every top-level field of a ModelInferRequest)
_LEN = 2


class Scanned(NamedTuple):
    """The top-level fields of a serialized ModelInferRequest."""

    model: str
    version: str
    id: str
    #: the ``parameters`` map entries, serialized as they came (b"" when none)
    parameters: bytes
    #: each ``inputs`` entry (InferInputTensor) and ``outputs`` entry, serialized
    inputs: tuple[bytes, ...]
    outputs: tuple[bytes, ...]
    #: the ``raw_input_contents``, views of the message
    raw: tuple[memoryview, ...]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it (IndexError past the end)."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    value = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IndexError


def peek_model(payload: bytes) -> tuple[str, str] | None:
    """(model name, version) when the message starts with them (as protobuf writes it)."""
    try:
        if not payload or payload[0] != _MODEL_NAME << 3 | _LEN:
            return None
        n, pos = _varint(payload, 1)
        end = pos + n
        name = payload[pos:end].decode()
        if end < len(payload) and payload[end] == _MODEL_VERSION << 3 | _LEN:
            n, pos = _varint(payload, end + 1)
            return name, payload[pos : pos + n].decode()
    except (IndexError, UnicodeDecodeError):
        return None
    return name, ""


def scan(payload: bytes) -> Scanned | None:
    """The request's top-level fields, or None when the raw path should not take it."""
    try:
        return _scan(payload)
    except (IndexError, UnicodeDecodeError):
        return None


def _scan(payload: bytes) -> Scanned | None:
    view = memoryview(payload)
    size = len(payload)
    pos = 0
    text = ["", "", ""]
    seen = 0
    parameters: list[bytes] = []
    inputs: list[bytes] = []
    outputs: list[bytes] = []
    raw: list[memoryview] = []
    while pos < size:
        start = pos
        tag = payload[pos]  # one byte: every field number is below 16
        if tag & 0x87 != _LEN:
            return None
        n = payload[pos + 1]
        if n < 0x80:
            pos += 2
        else:
            n, pos = _varint(payload, pos + 1)
        end = pos + n
        if end > size:
            return None
        field = tag >> 3
        if field == _RAW:
            raw.append(view[pos:end])
        elif field == _INPUTS:
            inputs.append(payload[pos:end])
        elif field == _OUTPUTS:
            outputs.append(payload[pos:end])
        elif field == _PARAMETERS:
            parameters.append(payload[start:end])
        elif field <= _ID:
            bit = 1 << field
            if seen & bit:
                return None  # protobuf would keep the last: leave it to protobuf
            seen |= bit
            text[field - 1] = payload[pos:end].decode()
        else:
            return None
        pos = end
    return Scanned(
        text[0], text[1], text[2], b"".join(parameters), tuple(inputs), tuple(outputs), tuple(raw)
    )
