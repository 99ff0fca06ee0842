"""Raw tensor bytes, BYTES serialisation and list decoding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from hepinfer.errors import ProtocolError
from hepinfer.protocol.tensors import (
    decode_raw,
    deserialize_bytes,
    encode_raw,
    from_list,
    serialize_bytes,
)


@pytest.mark.parametrize(
    "dtype", [np.float32, np.float16, np.int8, np.uint64, np.bool_, np.float64]
)
def test_raw_round_trip_is_zero_copy(dtype: type) -> None:
    array = (np.arange(12) % 3).astype(dtype).reshape(3, 4)
    raw = encode_raw(array)
    from hepinfer.protocol.dtypes import wire_datatype

    back = decode_raw("x", raw, wire_datatype(array.dtype), (3, 4))
    np.testing.assert_array_equal(back, array)
    assert not back.flags.writeable  # a view on the message bytes


def test_raw_big_endian_is_sent_little_endian() -> None:
    array = np.array([1.5, -2.0], dtype=">f4")
    assert encode_raw(array) == np.array([1.5, -2.0], "<f4").tobytes()


def test_raw_size_mismatch() -> None:
    with pytest.raises(
        ProtocolError, match="got 7 bytes of raw data, but shape \\[2\\] of FP32 needs 8"
    ):
        decode_raw("x", b"\x00" * 7, "FP32", (2,))


@given(st.lists(st.binary(max_size=20), max_size=10))
def test_bytes_match_tritonclient(items: list[bytes]) -> None:
    array = np.array([*items, b""], dtype=np.object_)
    ours = serialize_bytes(array)
    assert ours == serialize_byte_tensor(array).item()
    back = deserialize_bytes("x", ours, array.size)
    assert back.tolist() == deserialize_bytes_tensor(ours).tolist()


@pytest.mark.parametrize(
    ("raw", "count", "words"),
    [
        (b"\x01\x00", 1, "ends after 0 of 1"),
        (b"\x05\x00\x00\x00ab", 1, "claims 5 bytes"),
        (b"\x01\x00\x00\x00ab", 1, "1 bytes left over"),
    ],
)
def test_bytes_malformed(raw: bytes, count: int, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        deserialize_bytes("x", raw, count)


def test_from_list_nested_and_bytes() -> None:
    np.testing.assert_array_equal(
        from_list("x", [[1, 2], [3, 4]], "INT32", (2, 2)), [[1, 2], [3, 4]]
    )
    out = from_list("x", ["a", "b"], "BYTES", (2,))
    assert out.tolist() == [b"a", b"b"]
    with pytest.raises(ProtocolError, match="got 3 values, but shape \\[2, 2\\] needs 4"):
        from_list("x", [1, 2, 3], "FP32", (2, 2))
    with pytest.raises(ProtocolError, match="negative dimension"):
        from_list("x", [], "FP32", (-1,))
