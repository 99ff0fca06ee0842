"""HTTP bodies (JSON and binary tensor extension) <-> messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepinfer.errors import ProtocolError
from hepinfer.protocol.http_codec import decode_request, encode_response
from hepinfer.protocol.messages import InferOutput, InferResponse


def test_decode_json_and_binary() -> None:
    header = json.dumps(
        {
            "id": "q",
            "inputs": [
                {"name": "A", "datatype": "INT32", "shape": [2], "data": [1, 2]},
                {
                    "name": "B",
                    "datatype": "FP32",
                    "shape": [1, 2],
                    "parameters": {"binary_data_size": 8},
                },
            ],
            "outputs": [{"name": "Y", "parameters": {"binary_data": False, "classification": 2}}],
        }
    ).encode()
    body = header + np.array([0.5, 1.5], np.float32).tobytes()
    req = decode_request("m", "", body, len(header))
    assert req.id == "q"
    assert [i.name for i in req.inputs] == ["A", "B"]
    assert req.inputs[1].data is not None
    np.testing.assert_array_equal(req.inputs[1].data, [[0.5, 1.5]])
    assert req.outputs[0].class_count == 2
    assert not req.outputs[0].binary_data


@pytest.mark.parametrize(
    ("body", "length", "words"),
    [
        (b"{", None, "malformed JSON"),
        (b'{"inputs": [1]}', None, "each input must be a JSON object"),
        (b'{"inputs": [{"name": "A", "datatype": "FP32", "shape": [1]}]}', None, "needs 'data'"),
        (b'{"inputs": []}xx', 14, "2 bytes of binary data after"),
        (b"{}", 5, "has only 2 bytes"),
    ],
)
def test_decode_errors(body: bytes, length: int | None, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        decode_request("m", "", body, length)


def test_encode_binary_and_json() -> None:
    response = InferResponse(
        "m",
        "1",
        "",
        (
            InferOutput("Y", "FP32", np.array([[1.0, 2.0]], np.float32)),
            InferOutput("S", "BYTES", np.array([b"hi"], np.object_)),
        ),
    )
    body, length = encode_response(response, {"S": False}, default_binary=True)
    assert length is not None
    header = json.loads(body[:length])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert header["outputs"][1]["data"] == ["hi"]
    assert np.frombuffer(body[length:], np.float32).tolist() == [1.0, 2.0]
    text, none = encode_response(response, {}, default_binary=False)
    assert none is None
    assert json.loads(text)["outputs"][0]["data"] == [1.0, 2.0]
