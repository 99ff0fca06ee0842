"""gRPC messages <-> InferRequest / InferResponse."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb

from hepinfer.errors import ProtocolError
from hepinfer.protocol.grpc_codec import decode_request, encode_response
from hepinfer.protocol.messages import InferOutput, InferResponse


def test_decode_raw_typed_shm_and_outputs() -> None:
    request = pb.ModelInferRequest(model_name="m", model_version="2", id="7")
    request.inputs.add(name="A", datatype="FP32", shape=[2])
    request.raw_input_contents.append(np.array([1.0, 2.0], np.float32).tobytes())
    out = request.outputs.add(name="Y")
    out.parameters["classification"].int64_param = 3
    decoded = decode_request(request)
    assert (decoded.model_name, decoded.model_version, decoded.id) == ("m", "2", "7")
    assert decoded.inputs[0].data is not None
    np.testing.assert_array_equal(decoded.inputs[0].data, [1.0, 2.0])
    assert decoded.outputs[0].class_count == 3

    typed = pb.ModelInferRequest(model_name="m")
    t = typed.inputs.add(name="B", datatype="INT64", shape=[1, 2])
    t.contents.int64_contents.extend([5, -6])
    s = typed.inputs.add(name="C", datatype="FP32", shape=[4])
    s.parameters["shared_memory_region"].string_param = "r"
    s.parameters["shared_memory_byte_size"].int64_param = 16
    d = decode_request(typed)
    assert d.inputs[0].data is not None
    assert d.inputs[0].data.tolist() == [[5, -6]]
    assert d.inputs[1].shm is not None
    assert d.inputs[1].shm.region == "r"


def test_decode_errors() -> None:
    fp16 = pb.ModelInferRequest(model_name="m")
    fp16.inputs.add(name="H", datatype="FP16", shape=[1])
    with pytest.raises(ProtocolError, match="cannot be sent as typed contents"):
        decode_request(fp16)
    bad_class = pb.ModelInferRequest(model_name="m")
    bad_class.outputs.add(name="Y").parameters["classification"].string_param = "x"
    with pytest.raises(ProtocolError, match="classification must be a non-negative integer"):
        decode_request(bad_class)


def test_encode_response() -> None:
    response = InferResponse(
        "m", "1", "id", (InferOutput("Y", "INT16", np.array([[1, 2]], np.int16)),)
    )
    msg = encode_response(response)
    assert msg.outputs[0].name == "Y"
    assert list(msg.outputs[0].shape) == [1, 2]
    assert np.frombuffer(msg.raw_output_contents[0], np.int16).tolist() == [1, 2]
