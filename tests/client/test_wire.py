"""The hand-written ModelInferRequest encoding parses as protobuf does and decodes exactly."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tritonclient.grpc")
from tritonclient.grpc import service_pb2 as pb

from hepinfer.client.wire import RequestEncoder, raw_buffer, varint
from hepinfer.protocol.grpc_codec import decode_request


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31, 2**62])
def test_varint_matches_protobuf(value: int) -> None:
    msg = pb.ModelInferRequest.InferInputTensor(shape=[value])
    # packed field: tag 0x1a, length, varints
    assert msg.SerializeToString() == b"\x1a" + varint(len(varint(value))) + varint(value)


def _roundtrip(
    encoder: RequestEncoder, arrays: list[np.ndarray], rid: str = ""
) -> pb.ModelInferRequest:
    data = encoder.encode([a.shape for a in arrays], [raw_buffer(a) for a in arrays], rid)
    return pb.ModelInferRequest.FromString(data)


def test_request_parses_and_decodes() -> None:
    rng = np.random.default_rng(0)
    arrays = [
        rng.normal(size=(3, 20, 50)).astype(np.float32),
        rng.integers(-5, 5, size=(3, 7)).astype(np.int64),
        np.array([[True, False]]),
        np.empty((0, 4), np.float16),
        np.array([b"ab", b"", b"xyz"], dtype=object),
    ]
    types = ["FP32", "INT64", "BOOL", "FP16", "BYTES"]
    names = [f"in{i}" for i in range(len(arrays))]
    encoder = RequestEncoder("m", "2", list(zip(names, types, strict=True)), ["out", "out2"])
    msg = _roundtrip(encoder, arrays, "req-7")
    assert (msg.model_name, msg.model_version, msg.id) == ("m", "2", "req-7")
    assert [o.name for o in msg.outputs] == ["out", "out2"]
    decoded = decode_request(msg)
    for array, name, dtype, got in zip(arrays, names, types, decoded.inputs, strict=True):
        assert (got.name, got.datatype, got.shape) == (name, dtype, array.shape)
        assert got.data is not None
        if dtype == "BYTES":
            assert list(got.data) == list(array)
        else:
            np.testing.assert_array_equal(got.data, array)


def test_non_contiguous_and_big_endian_inputs_are_sent_as_values() -> None:
    encoder = RequestEncoder("m", "", [("x", "FP32"), ("y", "INT32")], [])
    x = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    y = np.arange(6, dtype=">i4").reshape(2, 3)
    decoded = decode_request(_roundtrip(encoder, [x, y]))
    np.testing.assert_array_equal(decoded.inputs[0].data, x)
    np.testing.assert_array_equal(decoded.inputs[1].data, y)
    assert decoded.model_version == ""


def test_header_cache_keeps_shapes_apart() -> None:
    encoder = RequestEncoder("m", "", [("x", "FP32")], [])
    for n in (1, 5, 1, 300):
        x = np.full((n, 2), n, np.float32)
        decoded = decode_request(_roundtrip(encoder, [x]))
        np.testing.assert_array_equal(decoded.inputs[0].data, x)


def test_shared_memory_request_parses() -> None:
    encoder = RequestEncoder("m", "", [("x", "FP32"), ("y", "INT32")], ["out"])
    data = encoder.encode_shm([(2, 3), (4,)], [("r0", 0, 24), ("r0", 64, 16)], "9")
    decoded = decode_request(pb.ModelInferRequest.FromString(data))
    assert decoded.id == "9"
    x, y = decoded.inputs
    assert (x.shape, x.data, y.shape, y.data) == ((2, 3), None, (4,), None)
    assert (x.shm.region, x.shm.byte_size, x.shm.offset) == ("r0", 24, 0)  # type: ignore[union-attr]
    assert (y.shm.region, y.shm.byte_size, y.shm.offset) == ("r0", 16, 64)  # type: ignore[union-attr]
