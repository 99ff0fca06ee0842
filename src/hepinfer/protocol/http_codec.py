"""KServe v2 HTTP/REST bodies (JSON and Triton's binary tensor extension) <-> messages.

A request body is a JSON header optionally followed by binary tensor data; the header length
is given by the ``Inference-Header-Content-Length`` HTTP header. Inputs with a
``binary_data_size`` parameter take their bytes, in order, from the data after the header.
"""

from __future__ import annotations

import json
from typing import Any

from hepinfer.errors import ProtocolError
from hepinfer.protocol.messages import (
    InferInput,
    InferRequest,
    InferResponse,
    RequestedOutput,
    SharedMemoryRef,
)
from hepinfer.protocol.tensors import check_shape, decode_raw, encode_raw, from_list

HEADER_LENGTH = "Inference-Header-Content-Length"


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{what} must be a JSON object, got {type(value).__name__}"
        raise ProtocolError(msg)
    return value


def _shm_ref(name: str, params: dict[str, Any]) -> SharedMemoryRef | None:
    region = params.get("shared_memory_region")
    if region is None:
        return None
    size = params.get("shared_memory_byte_size")
    offset = params.get("shared_memory_offset", 0)
    if not isinstance(region, str) or not isinstance(size, int) or not isinstance(offset, int):
        msg = f"tensor {name!r}: bad shared-memory parameters {params!r}"
        raise ProtocolError(msg)
    return SharedMemoryRef(region, size, offset)


def parse_json(data: bytes, what: str = "request body") -> dict[str, Any]:
    """Parse a JSON object; raises ProtocolError with the parser's message when malformed."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"malformed JSON in {what}: {exc}"
        raise ProtocolError(msg) from None
    return _object(value, what)


def decode_request(
    model_name: str, model_version: str, body: bytes, header_length: int | None
) -> InferRequest:
    """Decode an HTTP infer request body (JSON, or JSON + binary tensors)."""
    if header_length is None:
        header_bytes, binary = body, memoryview(b"")
    else:
        if not 0 <= header_length <= len(body):
            msg = f"{HEADER_LENGTH} is {header_length} but the body has only {len(body)} bytes"
            raise ProtocolError(msg)
        header_bytes, binary = body[:header_length], memoryview(body)[header_length:]
    header = parse_json(header_bytes, "inference request header")
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list):
        msg = "inference request needs an 'inputs' list"
        raise ProtocolError(msg)
    pos = 0
    inputs = []
    for item in raw_inputs:
        tensor = _object(item, "each input")
        name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
        if not isinstance(name, str) or not isinstance(datatype, str):
            msg = f"input {tensor!r} needs a string 'name' and 'datatype'"
            raise ProtocolError(msg)
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape
        ):
            msg = f"input {name!r}: 'shape' must be a list of integers, got {shape!r}"
            raise ProtocolError(msg)
        dims = check_shape(name, shape)
        params = _object(tensor.get("parameters", {}), f"parameters of input {name!r}")
        shm = _shm_ref(name, params)
        if shm is not None:
            inputs.append(InferInput(name, datatype, dims, None, shm))
            continue
        size = params.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or pos + size > len(binary):
                msg = (
                    f"input {name!r}: binary_data_size {size!r} does not fit the "
                    f"{len(binary) - pos} binary bytes left in the body"
                )
                raise ProtocolError(msg)
            array = decode_raw(name, binary[pos : pos + size], datatype, dims)
            pos += size
        else:
            data = tensor.get("data")
            if not isinstance(data, list):
                msg = f"input {name!r} needs 'data' (a list) or a binary_data_size parameter"
                raise ProtocolError(msg)
            array = from_list(name, data, datatype, dims)
        inputs.append(InferInput(name, datatype, dims, array))
    if pos != len(binary):
        msg = f"{len(binary) - pos} bytes of binary data after the last binary input"
        raise ProtocolError(msg)
    outputs = []
    default_binary = bool(
        _object(header.get("parameters", {}), "request parameters").get("binary_data_output", False)
    )
    requested = header.get("outputs", []) or []
    if not isinstance(requested, list):
        msg = f"'outputs' of an inference request must be a list, got {type(requested).__name__}"
        raise ProtocolError(msg)
    for item in requested:
        out = _object(item, "each requested output")
        name = out.get("name")
        if not isinstance(name, str):
            msg = f"requested output {out!r} needs a string 'name'"
            raise ProtocolError(msg)
        params = _object(out.get("parameters", {}), f"parameters of output {name!r}")
        count = params.get("classification", 0)
        if not isinstance(count, int) or count < 0:
            msg = f"output {name!r}: classification must be a non-negative integer"
            raise ProtocolError(msg)
        binary_out = bool(params.get("binary_data", default_binary))
        outputs.append(RequestedOutput(name, count, binary_out, _shm_ref(name, params)))
    req_id = header.get("id", "")
    params = _object(header.get("parameters", {}), "request parameters")
    return InferRequest(
        model_name, model_version, str(req_id), tuple(inputs), tuple(outputs), params
    )


def encode_response(
    response: InferResponse, binary: dict[str, bool], default_binary: bool
) -> tuple[bytes, int | None]:
    """Encode a response: JSON body, or JSON header + binary tensors (returns its length)."""
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for out in response.outputs:
        entry: dict[str, Any] = {
            "name": out.name,
            "datatype": out.datatype,
            "shape": list(out.data.shape),
        }
        if out.shm is not None:
            entry["parameters"] = {
                "shared_memory_region": out.shm.region,
                "shared_memory_byte_size": out.shm.byte_size,
            }
        elif binary.get(out.name, default_binary):
            raw = encode_raw(out.data)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif out.datatype == "BYTES":
            entry["data"] = [
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for v in out.data.reshape(-1)
            ]
        else:
            entry["data"] = out.data.reshape(-1).tolist()
        outputs.append(entry)
    header: dict[str, Any] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    }
    if response.id:
        header["id"] = response.id
    text = json.dumps(header, separators=(",", ":")).encode()
    if not chunks:
        return text, None
    return b"".join([text, *chunks]), len(text)
