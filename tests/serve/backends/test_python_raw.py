"""The python backend's raw path: ModelInfer bytes routed to the instance, answered as bytes.

Every check compares the raw path with the decoded path on the same server: a request whose
inputs come as typed ``contents`` is decoded on the loop as before, the same request with
``raw_input_contents`` is not, and the two answers must be the same bytes (or errors).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb

from hepinfer.protocol.grpc_codec import encode_response
from hepinfer.protocol.messages import InferOutput, InferResponse
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.backends.python.raw import peek_model, scan
from hepinfer.serve.backends.python.runtime._pb_stub import ResponseEncoder
from hepinfer.serve.backends.python.served import PythonModel
from tests.serve.backends.pb_models import (
    IDENTITY,
    IDENTITY_CONFIG,
    SCALE,
    SCALE_CONFIG,
    write_python_model,
)
from tests.serve.native.conftest import require_native

#: per request: an error for negative values, OUT_I missing when x[0] > 100, OUT_F returned
#: as float64 (the server converts it to the configured FP32); BLS to ``scale`` when asked
MIXED = """
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            if np.any(x < 0):
                out.append(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(f"X has negative values: {x.min()}")))
                continue
            params = json.loads(r.parameters())
            if params.get("bls"):
                answer = pb_utils.InferenceRequest(
                    model_name="scale", requested_output_names=["SCALED"],
                    inputs=[pb_utils.Tensor("X", x)]).exec()
                x = pb_utils.get_output_tensor_by_name(answer, "SCALED").as_numpy()
            tensors = [pb_utils.Tensor("OUT_F", x.astype(np.float64) + params.get("add", 0))]
            if x.reshape(-1)[0] <= 100:
                tensors.append(pb_utils.Tensor("OUT_I", np.full((x.shape[0], 1), len(requests),
                                                               np.int32)))
            out.append(pb_utils.InferenceResponse(tensors))
        return out
"""

MIXED_CONFIG = """
backend: "python"
max_batch_size: 8
input [{ name: "X" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "OUT_F" data_type: TYPE_FP32 dims: [4] },
        { name: "OUT_I" data_type: TYPE_INT32 dims: [1] }]
dynamic_batching { max_queue_delay_microseconds: 100000 }
"""

INFER = "/inference.GRPCInferenceService/ModelInfer"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    require_native()
    repo = tmp_path_factory.mktemp("raw")
    write_python_model(repo, "identity", IDENTITY, IDENTITY_CONFIG)
    write_python_model(repo, "mixed", MIXED, MIXED_CONFIG)
    write_python_model(repo, "scale", SCALE, SCALE_CONFIG)
    options = ServerOptions(
        [repo], grpc_port=0, http_port=0, metrics_port=0, grpc_frontend="native"
    )
    with InferenceServer(options) as srv:
        yield srv


@pytest.fixture(scope="module")
def channel(server: InferenceServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield ch


def _model(server: InferenceServer, name: str) -> PythonModel:
    model = server.core.repository.get(name, "")
    assert isinstance(model, PythonModel)
    return model


def _request(
    model: str, x: np.ndarray, raw: bool, outputs: tuple[str, ...] = (), **params: object
) -> pb.ModelInferRequest:
    """A ModelInferRequest for input X / INPUT0 (FP32), raw or as typed contents."""
    name = "INPUT0" if model == "identity" else "X"
    request = pb.ModelInferRequest(model_name=model, id=f"id-{model}")
    tensor = request.inputs.add(name=name, datatype="FP32", shape=x.shape)
    if raw:
        request.raw_input_contents.append(x.astype("<f4").tobytes())
    else:
        tensor.contents.fp32_contents.extend(x.reshape(-1).tolist())
    for o in outputs:
        request.outputs.add(name=o)
    for key, value in params.items():
        if isinstance(value, bool):
            request.parameters[key].bool_param = value
        elif isinstance(value, int):
            request.parameters[key].int64_param = value
        else:
            request.parameters[key].string_param = str(value)
    return request


def _call(channel: grpc.Channel, request: pb.ModelInferRequest | bytes) -> bytes | str:
    """The response's bytes, or the error as "CODE: details"."""
    data = request if isinstance(request, bytes) else request.SerializeToString()
    try:
        answer: bytes = channel.unary_unary(INFER)(data, timeout=30)
    except grpc.RpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    return answer


def _both(
    channel: grpc.Channel, server: InferenceServer, model: str, x: np.ndarray, **kw: object
) -> tuple[bytes | str, bytes | str]:
    """(raw path's answer, decoded path's answer); checks which path each took."""
    served = _model(server, model)
    before = served.raw_requests
    decoded = _call(channel, _request(model, x, False, **kw))  # type: ignore[arg-type]
    assert served.raw_requests == before
    raw = _call(channel, _request(model, x, True, **kw))  # type: ignore[arg-type]
    assert served.raw_requests == before + 1
    return raw, decoded


def test_scan_reads_what_protobuf_reads() -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    request = _request("mixed", x, True, ("OUT_I", "OUT_F"), add=5, bls=True, tag="é")
    request.model_version = "1"
    request.inputs.add(name="Y", datatype="INT64", shape=[1]).parameters["p"].int64_param = 1
    request.raw_input_contents.append(b"12345678")
    payload = request.SerializeToString()
    got = scan(payload)
    assert got is not None
    assert (got.model, got.version, got.id) == ("mixed", "1", "id-mixed")
    assert peek_model(payload) == ("mixed", "1")
    assert [pb.ModelInferRequest.InferInputTensor.FromString(b) for b in got.inputs] == list(
        request.inputs
    )
    assert [
        o.name for o in map(pb.ModelInferRequest.InferRequestedOutputTensor.FromString, got.outputs)
    ] == ["OUT_I", "OUT_F"]
    assert [bytes(r) for r in got.raw] == list(request.raw_input_contents)
    assert pb.ModelInferRequest.FromString(got.parameters).parameters == request.parameters
    # cut anywhere, it never raises: a message it cannot read whole is left to protobuf
    for end in range(len(payload)):
        cut = scan(payload[:end])
        assert cut is None or len(cut.raw) + len(cut.inputs) < 4 or end == len(payload)
    # typed contents (a varint field inside a tensor is fine; an unknown top-level one is not)
    assert scan(payload + b"\x40\x01") is None
    assert scan(_request("mixed", x, False).SerializeToString()) is not None
    twice = pb.ModelInferRequest(model_name="a").SerializeToString() * 2
    assert scan(twice) is None
    assert peek_model(b"\x12\x01a") is None


@pytest.mark.parametrize(
    ("dtype", "shape", "request_id"),
    [("FP32", (2, 3), "r1"), ("INT64", (5,), ""), ("FP64", (), "x"), ("UINT8", (0, 4), "é")],
)
def test_encoder_writes_what_protobuf_writes(
    dtype: str, shape: tuple[int, ...], request_id: str
) -> None:
    np_dtype = {"FP32": np.float32, "INT64": np.int64, "FP64": np.float64, "UINT8": np.uint8}
    rng = np.random.default_rng(len(shape))
    a = (rng.normal(size=shape) * 100).astype(np_dtype[dtype])
    b = np.arange(6, dtype=np.int32).reshape(2, 3).T  # not contiguous
    encoder = ResponseEncoder(
        "m", "3", {"A": (dtype, np.dtype(np_dtype[dtype])), "B": ("FP32", np.dtype(np.float32))}
    )
    for _ in range(2):  # the second time from the encoder's cached tensor headers
        got = encoder.encode(request_id, [("B", b), ("A", a)])
        want = encode_response(
            InferResponse(
                "m",
                "3",
                request_id,
                (InferOutput("B", "FP32", b.astype(np.float32)), InferOutput("A", dtype, a)),
            )
        ).SerializeToString()
        assert got == want


@pytest.mark.parametrize("shape", [(16,), (3,), (0,)])
def test_unbatched_raw_answer_is_the_decoded_answer(
    server: InferenceServer, channel: grpc.Channel, shape: tuple[int, ...]
) -> None:
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    raw, decoded = _both(channel, server, "identity", x)
    assert isinstance(raw, bytes)
    assert raw == decoded
    response = pb.ModelInferResponse.FromString(raw)
    assert response.id == "id-identity"
    out = np.frombuffer(response.raw_output_contents[0], np.float32).reshape(shape)
    np.testing.assert_array_equal(out, x)


def test_batched_raw_answer_with_parameters_bls_and_casts(
    server: InferenceServer, channel: grpc.Channel
) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    for kw in ({}, {"add": 5}, {"bls": True}):
        raw, decoded = _both(channel, server, "mixed", x, **kw)
        assert isinstance(raw, bytes)
        assert raw == decoded
        response = pb.ModelInferResponse.FromString(raw)
        assert [o.datatype for o in response.outputs] == ["FP32", "INT32"]
        out = np.frombuffer(response.raw_output_contents[0], np.float32).reshape(2, 4)
        want = (2 * x if kw.get("bls") else x) + int(kw.get("add", 0))
        np.testing.assert_array_equal(out, want)
    # one output asked for, the other left out of the response
    raw, decoded = _both(channel, server, "mixed", x, outputs=("OUT_I",))
    assert raw == decoded
    assert [o.name for o in pb.ModelInferResponse.FromString(raw).outputs] == ["OUT_I"]  # type: ignore[arg-type]


def test_model_errors_stay_per_request_in_one_execute(
    server: InferenceServer, channel: grpc.Channel
) -> None:
    xs = [np.full((1, 4), v, np.float32) for v in (1, -2, 3, 200, 5)]
    served = _model(server, "mixed")
    stats = served.stats
    before = (served.raw_requests, stats.success.count, stats.fail.count)
    with ThreadPoolExecutor(len(xs)) as pool:  # together: batched (100 ms queue delay)
        answers = list(pool.map(lambda x: _call(channel, _request("mixed", x, True)), xs))
    assert served.raw_requests == before[0] + len(xs)
    assert isinstance(answers[0], bytes)
    counts = [
        np.frombuffer(
            pb.ModelInferResponse.FromString(answers[i]).raw_output_contents[1], np.int32
        )[0]  # type: ignore[arg-type]
        for i in (0, 2, 4)
    ]
    assert max(counts) > 1  # shared an execute call with others
    assert answers[1] == ("INTERNAL: X has negative values: -2.0")
    assert answers[3] == (
        "INTERNAL: model 'mixed': the response of execute lacks the requested output(s) "
        "['OUT_I']; return a pb_utils.Tensor for each"
    )
    for i in (1, 3):  # the decoded path gives the same errors
        assert _call(channel, _request("mixed", xs[i], False)) == answers[i]
    assert all(isinstance(answers[i], bytes) for i in (0, 2, 4))
    assert stats.success.count - before[1] == 3
    assert stats.fail.count - before[2] == 2 + 2  # and the two decoded ones


def _malformed(model: str, **change: object) -> pb.ModelInferRequest:
    x = np.zeros((1, 4), np.float32)
    request = _request(model, x, True)
    tensor = request.inputs[0]
    if "shape" in change:
        del tensor.shape[:]
        tensor.shape.extend(change["shape"])  # type: ignore[arg-type]
    if "datatype" in change:
        tensor.datatype = str(change["datatype"])
    if "name" in change:
        tensor.name = str(change["name"])
    if "data" in change:
        request.raw_input_contents[0] = change["data"]  # type: ignore[assignment]
    if "output" in change:
        request.outputs.add(name=str(change["output"]))
    if "twice" in change:
        request.inputs.add().CopyFrom(tensor)
        request.raw_input_contents.append(request.raw_input_contents[0])
    return request


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"data": b"\0" * 12}, "INVALID_ARGUMENT: input 'X': got 12 bytes of raw data, but shape"),
        ({"shape": [1, 5]}, "INVALID_ARGUMENT: input 'X': got 16 bytes"),
        ({"shape": [4]}, "INVALID_ARGUMENT: unexpected shape for input 'X' for model 'mixed'"),
        ({"shape": [9, 4], "data": b"\0" * 144}, "INVALID_ARGUMENT: inference request batch-size"),
        ({"datatype": "INT32"}, "INVALID_ARGUMENT: inference input 'X' data-type is 'INT32'"),
        ({"name": "Y"}, "INVALID_ARGUMENT: unexpected inference input 'Y' for model 'mixed'"),
        ({"output": "NOPE"}, "INVALID_ARGUMENT: unexpected inference output 'NOPE'"),
        ({"twice": True}, "INVALID_ARGUMENT: expected 1 inputs but got 2 inputs"),
    ],
)
def test_malformed_requests_get_the_decoded_paths_errors(
    server: InferenceServer, channel: grpc.Channel, change: dict[str, object], error: str
) -> None:
    served = _model(server, "mixed")
    before = served.raw_requests
    answer = _call(channel, _malformed("mixed", **change))
    assert isinstance(answer, str)
    assert answer.startswith(error)
    assert served.raw_requests == before


def test_garbage_is_refused_and_the_instance_keeps_serving(
    server: InferenceServer, channel: grpc.Channel
) -> None:
    served = _model(server, "mixed")
    backend = served._instances[0].backend
    pid = backend.process.process.pid  # type: ignore[attr-defined]
    answer = _call(channel, b"\x0a\xff\xff\xff\x0f")
    assert isinstance(answer, str)
    assert answer.startswith("INVALID_ARGUMENT: ModelInfer: the 5 bytes received are not a valid")
    for change in ({"data": b"\0"}, {"shape": [-1, 4]}, {"datatype": "BYTES"}):
        assert isinstance(_call(channel, _malformed("mixed", **change)), str)
    x = np.ones((1, 4), np.float32)
    good = _call(channel, _request("mixed", x, True))
    assert isinstance(good, bytes)
    assert backend.process.process.pid == pid  # type: ignore[attr-defined]
    assert backend.process.alive  # type: ignore[attr-defined]
