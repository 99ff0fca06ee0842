"""Restricted API groups (Triton's --grpc-restricted-protocol / --http-restricted-api).

Refusals are Triton 2.51's, checked against the real Triton: gRPC UNAVAILABLE "This protocol
is restricted, expecting header 'triton-grpc-protocol-<key>'" (the client sends the key with
that prefix), HTTP 403 {"error":"This API is restricted, expecting header '<key>'"}.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc
from tritonclient.utils import InferenceServerException

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.restrict import GROUPS, parse_restrictions
from tests.serve.models import build_repository
from tests.serve.native.conftest import require_native

GRPC_SPEC = ("model-repository,statistics:admin=s3cret", "inference:user=ok")
HTTP_SPEC = ("model-repository,metadata:admin=s3cret", "inference:user=ok")
GRPC_ADMIN = {"triton-grpc-protocol-admin": "s3cret"}
GRPC_USER = {"triton-grpc-protocol-user": "ok"}
GRPC_REFUSAL = "This protocol is restricted, expecting header 'triton-grpc-protocol-{}'"
HTTP_REFUSAL = b'{"error":"This API is restricted, expecting header \'%s\'"}'


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module", params=["native", "aio"])
def server(request: pytest.FixtureRequest, repo: Path) -> Iterator[InferenceServer]:
    """The same restrictions on each gRPC front end, and on HTTP."""
    if request.param == "native":
        require_native()
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=0,
        metrics_port=None,
        model_control_mode="explicit",
        load_models=("scale", "ints"),
        grpc_frontend=request.param,
        grpc_restricted=GRPC_SPEC,
        http_restricted=HTTP_SPEC,
    )
    with InferenceServer(options) as srv:
        assert srv.grpc_frontend == request.param
        yield srv


def _infer_inputs() -> list[grpcclient.InferInput]:
    inp = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    inp.set_data_from_numpy(np.ones((1, 4), np.float32))
    return [inp]


def test_grpc_refuses_without_the_header(server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    calls = {
        "admin": [
            lambda h: client.get_model_repository_index(headers=h),
            lambda h: client.load_model("ints", headers=h),
            lambda h: client.unload_model("not_loaded_anyway", headers=h),
            lambda h: client.get_inference_statistics(headers=h),
        ],
        "user": [lambda h: client.infer("scale", _infer_inputs(), headers=h)],
    }
    for key, fns in calls.items():
        for fn in fns:
            for headers in (None, {f"triton-grpc-protocol-{key}": "wrong"}, {key: "s3cret"}):
                with pytest.raises(InferenceServerException) as e:
                    fn(headers)
                assert e.value.status() == "StatusCode.UNAVAILABLE"
                assert e.value.message() == GRPC_REFUSAL.format(key)


def test_grpc_passes_with_the_header(server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    names = {m.name for m in client.get_model_repository_index(headers=GRPC_ADMIN).models}
    assert "scale" in names
    client.load_model("ints", headers=GRPC_ADMIN)
    assert client.get_inference_statistics(headers=GRPC_ADMIN).model_stats
    result = client.infer("scale", _infer_inputs(), headers=GRPC_USER)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), np.full((1, 4), 2, np.float32))
    # the key of another group does not open this one
    with pytest.raises(InferenceServerException, match="triton-grpc-protocol-admin"):
        client.get_model_repository_index(headers=GRPC_USER)


def test_grpc_open_groups_stay_open(server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    assert client.is_server_live()
    assert client.is_model_ready("scale")
    assert client.get_server_metadata().name == "hepinfer"  # metadata restricted on HTTP only
    assert client.get_model_config("scale").config.name == "scale"


def test_grpc_stream_is_refused_without_the_header(server: InferenceServer) -> None:
    request = pb.ModelInferRequest(model_name="scale")
    request.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 4])
    request.raw_input_contents.append(np.ones((1, 4), np.float32).tobytes())
    with grpc.insecure_channel(server.grpc_url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as e:
            list(stub.ModelStreamInfer(iter([request])))
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert e.value.details() == GRPC_REFUSAL.format("user")
        answers = list(stub.ModelStreamInfer(iter([request]), metadata=list(GRPC_USER.items())))
    assert len(answers) == 1
    assert not answers[0].error_message
    out = np.frombuffer(answers[0].infer_response.raw_output_contents[0], np.float32)
    np.testing.assert_array_equal(out, np.full(4, 2, np.float32))


def _http(
    server: InferenceServer,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    req = urllib.request.Request(
        f"http://{server.http_url}{path}",
        data=body,
        method="GET" if body is None else "POST",
        headers=headers or {},
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


ADMIN_PATHS = [
    ("/v2/repository/index", b"{}"),
    ("/v2/repository/models/ints/load", b"{}"),
    ("/v2/repository/models/ints/unload", b"{}"),
    ("/v2", None),
    ("/v2/models/scale", None),
    ("/v2/models/scale/versions/1", None),
]


@pytest.mark.parametrize(("path", "body"), ADMIN_PATHS)
def test_http_refuses_without_the_header(
    server: InferenceServer, path: str, body: bytes | None
) -> None:
    for headers in (None, {"admin": "wrong"}, {"triton-grpc-protocol-admin": "s3cret"}):
        assert _http(server, path, body, headers) == (403, HTTP_REFUSAL % b"admin")
    status, _ = _http(server, path, body, {"Admin": "s3cret"})  # header names: any case
    assert status == 200


def test_http_inference_needs_its_own_key(server: InferenceServer) -> None:
    client = httpclient.InferenceServerClient(server.http_url)
    inp = httpclient.InferInput("INPUT0", [1, 4], "FP32")
    inp.set_data_from_numpy(np.ones((1, 4), np.float32))
    with pytest.raises(InferenceServerException, match="expecting header 'user'") as e:
        client.infer("scale", [inp], headers={"admin": "s3cret"})
    assert e.value.status() == "403"
    result = client.infer("scale", [inp], headers={"user": "ok"})
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), np.full((1, 4), 2, np.float32))


def test_http_open_groups_stay_open(server: InferenceServer) -> None:
    assert _http(server, "/v2/health/live")[0] == 200
    assert _http(server, "/v2/models/scale/ready")[0] == 200
    assert _http(server, "/v2/models/scale/config")[0] == 200
    assert _http(server, "/v2/models/stats")[0] == 200  # statistics restricted on gRPC only


def test_specifications_are_checked() -> None:
    rules = parse_restrictions(["health,trace:k=v=w"], "http")
    assert rules.header("health") is not None
    assert rules.header("trace") == rules.header("health")
    assert rules.rules["health"].value == "v=w"  # the value is all after the first '='
    assert rules.header("inference") is None
    assert set(GROUPS) >= set(rules.rules)
    grpc_rules = parse_restrictions(["health:Key=v"], "grpc")
    need = grpc_rules.header("health")
    assert need is not None
    assert need.key == "triton-grpc-protocol-key"  # gRPC metadata keys are lower-case
    bad = {
        "health": "is not '<group>",
        "health:k": "is not '<group>",
        ":k=v": "is not '<group>",
        "healthz:k=v": "unknown API group 'healthz'",
        "health,model-repository:k=v;health:x=y": "",
    }
    for spec, match in bad.items():
        if not match:
            with pytest.raises(ServeError, match="already restricted"):
                parse_restrictions(spec.split(";"), "grpc")
            continue
        with pytest.raises(ServeError, match=match):
            parse_restrictions([spec], "http")
    with pytest.raises(ServeError, match="--grpc-restricted-protocol 'nope:k=v'"):
        ServerOptions(["models"], grpc_restricted=("nope:k=v",))
