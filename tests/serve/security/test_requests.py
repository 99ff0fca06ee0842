"""Client mistakes get INVALID_ARGUMENT / 400 with a precise message, never INTERNAL / 500.

Sizes a request claims are checked against the bytes it carries before anything is
allocated: an 86-byte request can no longer make the server allocate 2**40 elements.
"""

from __future__ import annotations

import json
import logging
import struct
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from hepinfer.serve import InferenceServer

HEADER = "Inference-Header-Content-Length"


def _grpc_infer(server: InferenceServer, request: pb.ModelInferRequest) -> grpc.RpcError:
    with grpc.insecure_channel(server.grpc_url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as e:
            stub.ModelInfer(request)
    error: grpc.RpcError = e.value
    return error


def _http_infer(
    server: InferenceServer, model: str, body: bytes, header_length: int | None = None
) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if header_length is not None:
        headers[HEADER] = str(header_length)
    req = urllib.request.Request(
        f"http://{server.http_url}/v2/models/{model}/infer", data=body, headers=headers
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())["error"]


def _bytes_request(shape: list[int], raw: bytes) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="strings")
    request.inputs.add(name="TEXT_IN", datatype="BYTES", shape=shape)
    request.raw_input_contents.append(raw)
    return request


def test_huge_bytes_count_is_refused_before_allocating(
    server: InferenceServer, caplog: pytest.LogCaptureFixture
) -> None:
    raw = struct.pack("<I", 1) + b"a"
    request = _bytes_request([1, 2**40], raw)
    assert len(request.SerializeToString()) < 100  # the 86-byte request
    with caplog.at_level(logging.ERROR):
        error = _grpc_infer(server, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(error.details()) == (
        "input 'TEXT_IN': BYTES data ends after 1 of 1099511627776 elements (the 5 bytes "
        "sent); send a shape that matches the data"
    )
    assert "Traceback" not in caplog.text


def test_huge_bytes_count_over_http(server: InferenceServer) -> None:
    raw = struct.pack("<I", 1) + b"a"
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "TEXT_IN",
                    "datatype": "BYTES",
                    "shape": [1, 2**40],
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    status, message = _http_infer(server, "strings", header + raw, len(header))
    assert status == 400
    assert "BYTES data ends after 1 of 1099511627776 elements" in message


@pytest.mark.parametrize("shape", [[0, 2**62], [2**40, 0, 2**40], [2**31, 2**31]])
def test_absurd_shapes_are_invalid(server: InferenceServer, shape: list[int]) -> None:
    request = pb.ModelInferRequest(model_name="scale")
    request.inputs.add(name="INPUT0", datatype="FP32", shape=shape)
    request.raw_input_contents.append(b"")
    error = _grpc_infer(server, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "INPUT0" in str(error.details())
    body = json.dumps(
        {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": shape, "data": []}]}
    ).encode()
    status, message = _http_infer(server, "scale", body)
    assert status == 400, message
    assert "INPUT0" in message


def test_typed_and_raw_contents_together_are_refused(server: InferenceServer) -> None:
    request = pb.ModelInferRequest(model_name="scale")
    tensor = request.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 4])
    tensor.contents.fp32_contents.extend([1.0, 2.0, 3.0, 4.0])
    request.raw_input_contents.append(np.zeros((1, 4), np.float32).tobytes())
    error = _grpc_infer(server, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(error.details()) == (
        "input 'INPUT0': both typed 'contents' and raw_input_contents were sent; send the "
        "tensor's data in one of them"
    )


@pytest.mark.parametrize("value", [100_000_000, 5, 1.5, True, None, {"a": 1}])
def test_json_bytes_must_be_strings(server: InferenceServer, value: object) -> None:
    body = json.dumps(
        {
            "inputs": [
                {"name": "TEXT_IN", "datatype": "BYTES", "shape": [1, 2], "data": ["x", value]}
            ]
        }
    ).encode()
    assert len(body) < 120
    status, message = _http_infer(server, "strings", body)
    assert status == 400
    assert "BYTES element 1 is" in message
    assert "must be strings" in message


def test_json_bytes_strings_still_work(server: InferenceServer) -> None:
    body = json.dumps(
        {"inputs": [{"name": "TEXT_IN", "datatype": "BYTES", "shape": [1, 2], "data": ["x", "y"]}]}
    ).encode()
    status, text = _http_infer(server, "strings", body)
    assert status == 200
    assert json.loads(text)["outputs"][0]["data"] == ["x", "y"]


def test_outputs_must_be_a_list(server: InferenceServer) -> None:
    body = json.dumps(
        {
            "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": [1] * 4}],
            "outputs": 7,
        }
    ).encode()
    assert _http_infer(server, "scale", body) == (
        400,
        "'outputs' of an inference request must be a list, got int",
    )


def test_classification_of_a_text_output_is_invalid(server: InferenceServer) -> None:
    request = pb.ModelInferRequest(model_name="strings")
    tensor = request.inputs.add(name="TEXT_IN", datatype="BYTES", shape=[1, 2])
    tensor.contents.bytes_contents.extend([b"a", b"b"])
    request.outputs.add(name="TEXT_OUT").parameters["classification"].int64_param = 1
    error = _grpc_infer(server, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "classification needs a numeric output, not object data" in str(error.details())


@pytest.mark.parametrize("config", ["{bad", '{"max_batch_size": "x"}'])
def test_bad_config_json_in_a_load_is_invalid(server: InferenceServer, config: str) -> None:
    body = json.dumps({"parameters": {"config": config}}).encode()
    req = urllib.request.Request(
        f"http://{server.http_url}/v2/repository/models/ints/load", data=body
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400
    assert "not a valid Triton model configuration in JSON" in json.loads(e.value.read())["error"]
    with grpc.insecure_channel(server.grpc_url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        load = pb.RepositoryModelLoadRequest(model_name="ints")
        load.parameters["config"].string_param = config
        with pytest.raises(grpc.RpcError) as g:
            stub.RepositoryModelLoad(load)
    assert g.value.code() == grpc.StatusCode.INVALID_ARGUMENT
