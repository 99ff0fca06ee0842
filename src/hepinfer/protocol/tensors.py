"""Tensor (de)serialisation: raw little-endian bytes, BYTES length-prefixed strings, typed lists.

Decoding never copies fixed-size tensors: `numpy.frombuffer` views the request's bytes (the
arrays are read-only). BYTES tensors use Triton's layout: each element is a 4-byte
little-endian length followed by that many bytes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepinfer.errors import ProtocolError
from hepinfer.protocol.dtypes import WIRE_ITEMSIZE, numpy_dtype

_LEN = struct.Struct("<I")
#: largest product of a shape's non-zero dimensions (numpy refuses far smaller arrays anyway;
#: this keeps its "array is too big" ValueError out of the server)
MAX_SPAN = 2**48


def element_count(shape: Sequence[int]) -> int:
    """Number of elements of a tensor of this shape (1 for a scalar)."""
    return math.prod(shape)


def check_shape(name: str, shape: Sequence[int]) -> tuple[int, ...]:
    """The shape as a tuple; raises ProtocolError for negative dimensions."""
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        msg = f"input {name!r} has shape {list(dims)} with a negative dimension; send the actual shape"
        raise ProtocolError(msg)
    span = math.prod(d for d in dims if d)
    if span > MAX_SPAN:
        msg = (
            f"input {name!r} has shape {list(dims)}: {span} elements (zero dimensions aside), "
            f"more than any tensor can hold (at most 2**48); send the actual shape"
        )
        raise ProtocolError(msg)
    return dims


def decode_raw(
    name: str, raw: bytes | memoryview, datatype: str, shape: Sequence[int]
) -> np.ndarray:
    """View raw tensor bytes as an array of `shape` (BYTES: an object array of bytes)."""
    dims = check_shape(name, shape)
    count = element_count(dims)
    if datatype == "BYTES":
        return deserialize_bytes(name, raw, count).reshape(dims)
    itemsize = WIRE_ITEMSIZE.get(datatype)
    if itemsize is None:
        numpy_dtype(datatype)  # raises for unknown names
    expected = count * (itemsize or 0)
    if len(raw) != expected:
        msg = (
            f"input {name!r}: got {len(raw)} bytes of raw data, but shape {list(dims)} of "
            f"{datatype} needs {expected} bytes"
        )
        raise ProtocolError(msg)
    return np.frombuffer(raw, dtype=numpy_dtype(datatype)).reshape(dims)


def encode_raw(array: np.ndarray) -> bytes:
    """Raw little-endian bytes of an array (BYTES tensors length-prefixed)."""
    if array.dtype.kind in "OSU":
        return serialize_bytes(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


def serialize_bytes(array: np.ndarray) -> bytes:
    """Triton's BYTES layout: <uint32 length><bytes> for each element in C order."""
    parts: list[bytes] = []
    for item in array.reshape(-1):
        data = item.encode() if isinstance(item, str) else bytes(item)
        parts.append(_LEN.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def deserialize_bytes(name: str, raw: bytes | memoryview, count: int) -> np.ndarray:
    """Parse `count` length-prefixed elements; raises ProtocolError on truncation or excess."""
    buf = memoryview(raw)
    # elements are collected as they are read: the count a request claims allocates nothing
    items: list[bytes] = []
    pos = 0
    for i in range(count):
        if pos + 4 > len(buf):
            msg = (
                f"input {name!r}: BYTES data ends after {i} of {count} elements (the "
                f"{len(buf)} bytes sent); send a shape that matches the data"
            )
            raise ProtocolError(msg)
        (length,) = _LEN.unpack_from(buf, pos)
        pos += 4
        if pos + length > len(buf):
            msg = f"input {name!r}: BYTES element {i} claims {length} bytes but the data ends"
            raise ProtocolError(msg)
        items.append(bytes(buf[pos : pos + length]))
        pos += length
    if pos != len(buf):
        msg = f"input {name!r}: {len(buf) - pos} bytes left over after {count} BYTES elements"
        raise ProtocolError(msg)
    out = np.empty(count, dtype=np.object_)
    out[:] = items
    return out


def from_list(name: str, data: Sequence[Any], datatype: str, shape: Sequence[int]) -> np.ndarray:
    """Build an array from a (possibly nested) list of values, e.g. JSON `data` or typed contents."""
    dims = check_shape(name, shape)
    dtype = numpy_dtype(datatype)
    try:
        if datatype == "BYTES":
            values = list(_flatten(data))
            flat = np.empty(len(values), dtype=np.object_)
            for i, v in enumerate(values):
                if isinstance(v, str):
                    flat[i] = v.encode()
                elif isinstance(v, bytes):
                    flat[i] = v
                else:  # bytes(5) would be five NUL bytes: refuse what is not text
                    msg = (
                        f"input {name!r}: BYTES element {i} is {type(v).__name__} {v!r}; "
                        "BYTES data must be strings (JSON) or bytes (bytes_contents)"
                    )
                    raise ProtocolError(msg)
        else:
            flat = np.asarray(data, dtype=dtype).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        msg = f"input {name!r}: cannot read the data as {datatype}: {exc}"
        raise ProtocolError(msg) from None
    if flat.size != element_count(dims):
        msg = (
            f"input {name!r}: got {flat.size} values, but shape {list(dims)} needs "
            f"{element_count(dims)}"
        )
        raise ProtocolError(msg)
    return flat.reshape(dims)


def _flatten(data: Any) -> Any:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data
