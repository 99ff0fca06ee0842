"""Data types of the KServe v2 / Triton protocol and their numpy equivalents.

The wire names (`"FP32"`, `"BYTES"`, ...) are used in requests and responses; the model
configuration uses `TYPE_FP32`, `TYPE_STRING`, ... . BYTES tensors are numpy object arrays of
`bytes`; `BF16` has no numpy type and travels as raw 2-byte words (`uint16`).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from hepinfer.errors import ProtocolError

#: wire datatype -> numpy dtype (BYTES -> object)
WIRE_TO_NUMPY: Final[dict[str, np.dtype[np.generic]]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BF16": np.dtype(np.uint16),
    "BYTES": np.dtype(np.object_),
}

#: numpy dtype kind+size -> wire datatype (BF16 is never inferred from numpy)
_NUMPY_TO_WIRE: Final[dict[np.dtype[np.generic], str]] = {
    dt: name for name, dt in WIRE_TO_NUMPY.items() if name != "BF16"
}

#: size in bytes of one element of each fixed-size wire datatype
WIRE_ITEMSIZE: Final[dict[str, int]] = {
    name: dt.itemsize for name, dt in WIRE_TO_NUMPY.items() if name != "BYTES"
}


def numpy_dtype(datatype: str) -> np.dtype[np.generic]:
    """The numpy dtype for a wire datatype such as ``"FP32"``; raises ProtocolError if unknown."""
    try:
        return WIRE_TO_NUMPY[datatype]
    except KeyError:
        msg = f"unknown tensor datatype {datatype!r}; use one of {', '.join(sorted(WIRE_TO_NUMPY))}"
        raise ProtocolError(msg) from None


def wire_datatype(dtype: np.dtype[np.generic]) -> str:
    """The wire datatype for a numpy dtype (str/bytes/object arrays are BYTES)."""
    if dtype.kind in "OSU":
        return "BYTES"
    try:
        return _NUMPY_TO_WIRE[np.dtype(dtype).newbyteorder("=")]
    except KeyError:
        msg = f"numpy dtype {dtype} has no KServe v2 datatype; cast the array to a numeric type"
        raise ProtocolError(msg) from None


def config_to_wire(type_name: str) -> str:
    """Model-config type name (``"TYPE_FP32"``, ``"TYPE_STRING"``) -> wire datatype."""
    if type_name == "TYPE_STRING":
        return "BYTES"
    if not type_name.startswith("TYPE_") or type_name[5:] not in WIRE_TO_NUMPY:
        msg = f"unknown model-config data type {type_name!r}; expected e.g. TYPE_FP32"
        raise ProtocolError(msg)
    return type_name[5:]


def wire_to_config(datatype: str) -> str:
    """Wire datatype -> model-config type name (BYTES -> ``TYPE_STRING``)."""
    numpy_dtype(datatype)
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"
