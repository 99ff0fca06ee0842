"""KServe v2 / Triton inference protocol messages <-> numpy, shared by server and client.

Stands alone: needs numpy and (for gRPC) the protobuf modules shipped in ``tritonclient``,
never the compiler.
"""

from __future__ import annotations

from hepinfer.protocol.dtypes import config_to_wire, numpy_dtype, wire_datatype, wire_to_config
from hepinfer.protocol.messages import (
    InferInput,
    InferOutput,
    InferRequest,
    InferResponse,
    RequestedOutput,
    SharedMemoryRef,
)
from hepinfer.protocol.statistics import ModelStatsTotals
from hepinfer.protocol.tensors import decode_raw, deserialize_bytes, encode_raw, serialize_bytes

__all__ = [
    "InferInput",
    "InferOutput",
    "InferRequest",
    "InferResponse",
    "ModelStatsTotals",
    "RequestedOutput",
    "SharedMemoryRef",
    "config_to_wire",
    "decode_raw",
    "deserialize_bytes",
    "encode_raw",
    "numpy_dtype",
    "serialize_bytes",
    "wire_datatype",
    "wire_to_config",
]
