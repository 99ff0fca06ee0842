"""KServe v2 gRPC messages (tritonclient's generated protobuf) <-> InferRequest / InferResponse."""

from __future__ import annotations

from typing import Any

import numpy as np
from tritonclient.grpc import service_pb2 as pb

from hepinfer.errors import ProtocolError
from hepinfer.protocol.messages import (
    InferInput,
    InferRequest,
    InferResponse,
    RequestedOutput,
    SharedMemoryRef,
)
from hepinfer.protocol.tensors import check_shape, decode_raw, encode_raw, from_list

#: wire datatype -> field of InferTensorContents that carries it
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def parameter_value(param: pb.InferParameter) -> Any:
    """The Python value of an InferParameter (bool, int, str, float or None)."""
    kind = param.WhichOneof("parameter_choice")
    return None if kind is None else getattr(param, kind)


def parameters_dict(params: Any) -> dict[str, Any]:
    """A protobuf map<string, InferParameter> as a plain dict."""
    return {key: parameter_value(value) for key, value in params.items()}


def _shm_ref(name: str, params: dict[str, Any]) -> SharedMemoryRef | None:
    region = params.get("shared_memory_region")
    if region is None:
        return None
    size = params.get("shared_memory_byte_size")
    if not isinstance(region, str) or not isinstance(size, int):
        msg = (
            f"tensor {name!r}: shared_memory_region must be a string and "
            "shared_memory_byte_size an integer"
        )
        raise ProtocolError(msg)
    offset = params.get("shared_memory_offset", 0)
    return SharedMemoryRef(region, size, int(offset) if isinstance(offset, int) else 0)


def decode_request(request: pb.ModelInferRequest) -> InferRequest:
    """Decode a ModelInferRequest; fixed-size raw inputs are zero-copy read-only views."""
    raw = request.raw_input_contents
    n_raw = len(raw)
    if n_raw and n_raw != len(request.inputs):
        msg = (
            f"got {n_raw} raw_input_contents for {len(request.inputs)} inputs; send raw "
            "contents for every input or for none"
        )
        raise ProtocolError(msg)
    inputs = []
    for i, tensor in enumerate(request.inputs):
        name = tensor.name
        shape = tuple(tensor.shape)
        params = parameters_dict(tensor.parameters) if tensor.parameters else {}
        shm = _shm_ref(name, params) if params else None
        if shm is not None:
            inputs.append(InferInput(name, tensor.datatype, check_shape(name, shape), None, shm))
            continue
        if n_raw:
            if tensor.HasField("contents"):
                msg = (
                    f"input {name!r}: both typed 'contents' and raw_input_contents were sent; "
                    "send the tensor's data in one of them"
                )
                raise ProtocolError(msg)
            data = decode_raw(name, raw[i], tensor.datatype, shape)
        else:
            data = _decode_contents(tensor)
        inputs.append(InferInput(name, tensor.datatype, data.shape, data))
    outputs = tuple(_requested_output(o) for o in request.outputs)
    params = parameters_dict(request.parameters) if request.parameters else {}
    return InferRequest(
        request.model_name, request.model_version, request.id, tuple(inputs), outputs, params
    )


def _decode_contents(tensor: pb.ModelInferRequest.InferInputTensor) -> np.ndarray:
    field = _CONTENTS_FIELD.get(tensor.datatype)
    if field is None:
        msg = (
            f"input {tensor.name!r}: datatype {tensor.datatype!r} cannot be sent as typed "
            "contents; send it in raw_input_contents"
        )
        raise ProtocolError(msg)
    values = getattr(tensor.contents, field)
    return from_list(tensor.name, list(values), tensor.datatype, tuple(tensor.shape))


def _requested_output(out: pb.ModelInferRequest.InferRequestedOutputTensor) -> RequestedOutput:
    params = parameters_dict(out.parameters) if out.parameters else {}
    count = params.get("classification", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        msg = f"output {out.name!r}: classification must be a non-negative integer, got {count!r}"
        raise ProtocolError(msg)
    return RequestedOutput(out.name, count, True, _shm_ref(out.name, params) if params else None)


def encode_response(response: InferResponse) -> pb.ModelInferResponse:
    """Encode a response; tensors go in raw_output_contents as Triton does."""
    msg = pb.ModelInferResponse(
        model_name=response.model_name, model_version=response.model_version, id=response.id
    )
    outputs = msg.outputs
    raw = msg.raw_output_contents
    for out in response.outputs:
        tensor = outputs.add(name=out.name, datatype=out.datatype, shape=out.data.shape)
        if out.shm is not None:
            tensor.parameters["shared_memory_region"].string_param = out.shm.region
            tensor.parameters["shared_memory_byte_size"].int64_param = out.shm.byte_size
            if out.shm.offset:
                tensor.parameters["shared_memory_offset"].int64_param = out.shm.offset
            raw.append(b"")
        else:
            raw.append(encode_raw(out.data))
    return msg
