"""The HTTP/REST front end, driven by tritonclient.http and by hand-written requests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer


@pytest.fixture(scope="module")
def client(server: InferenceServer) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(server.http_url)


def _post(
    server: InferenceServer, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(
        f"http://{server.http_url}{path}", data=body, headers=headers or {}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def _get(server: InferenceServer, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://{server.http_url}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_health_metadata_config(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert not client.is_server_ready()  # strict readiness: model 'broken' failed to load
    assert client.is_model_ready("scale")
    assert not client.is_model_ready("broken")
    assert client.get_server_metadata()["name"] == "hepinfer"
    meta = client.get_model_metadata("scale")
    assert meta["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}]
    config = client.get_model_config("scale")
    assert config["max_batch_size"] == 8
    assert config["input"][0]["dims"] == [4]
    assert config["dynamic_batching"]["preferred_batch_size"] == [4]
    assert client.get_model_metadata("versioned", "2")["versions"] == ["2", "3"]


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False])
def test_infer_json_and_binary(
    client: httpclient.InferenceServerClient, binary_in: bool, binary_out: bool
) -> None:
    data = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32)
    inp = httpclient.InferInput("INPUT0", [3, 4], "FP32")
    inp.set_data_from_numpy(data, binary_data=binary_in)
    outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary_out)]
    result = client.infer("scale", [inp], outputs=outputs, request_id="r1")
    np.testing.assert_allclose(result.as_numpy("OUTPUT0"), 2 * data, rtol=1e-6)
    assert result.get_response()["id"] == "r1"


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_infer_compressed(client: httpclient.InferenceServerClient, algorithm: str) -> None:
    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    inp = httpclient.InferInput("INPUT0", [2, 4], "FP32")
    inp.set_data_from_numpy(data)
    result = client.infer(
        "scale",
        [inp],
        request_compression_algorithm=algorithm,
        response_compression_algorithm=algorithm,
    )
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), data + 1)


def test_infer_bytes_ints_and_classification(client: httpclient.InferenceServerClient) -> None:
    text = np.array([[b"a", b"bc"]], dtype=np.object_)
    inp = httpclient.InferInput("TEXT_IN", [1, 2], "BYTES")
    inp.set_data_from_numpy(text)
    np.testing.assert_array_equal(client.infer("strings", [inp]).as_numpy("TEXT_OUT"), text)
    a = httpclient.InferInput("A", [3], "INT32")
    a.set_data_from_numpy(np.array([1, 2, 3], np.int32), binary_data=False)
    b = httpclient.InferInput("B", [3], "INT32")
    b.set_data_from_numpy(np.array([1, 1, 1], np.int32))
    result = client.infer("ints", [a, b])
    np.testing.assert_array_equal(result.as_numpy("DIFF"), [0, 1, 2])
    x = httpclient.InferInput("INPUT0", [1, 4], "FP32")
    x.set_data_from_numpy(np.array([[4, 3, 2, 1]], np.float32))
    out = httpclient.InferRequestedOutput("OUTPUT0", binary_data=False, class_count=1)
    assert client.infer("scale", [x], outputs=[out]).as_numpy("OUTPUT0").tolist() == [
        ["8.000000:0:alpha"]  # JSON carries BYTES as strings, as in Triton
    ]


def test_statistics_and_repository(client: httpclient.InferenceServerClient) -> None:
    stats = client.get_inference_statistics("scale")["model_stats"][0]
    assert stats["name"] == "scale"
    assert isinstance(stats["inference_stats"]["success"]["count"], int)
    index = client.get_model_repository_index()
    assert {"name": "scale", "version": "1", "state": "READY", "reason": ""} in index
    client.unload_model("strings")
    assert not client.is_model_ready("strings")
    client.load_model("strings")
    assert client.is_model_ready("strings")


def test_errors_have_triton_codes(server: InferenceServer) -> None:
    body = json.dumps(
        {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    ).encode()
    status, text, _ = _post(server, "/v2/models/nope/infer", body)
    assert status == 400
    assert "Request for unknown model: 'nope' is not found" in json.loads(text)["error"]
    status, text, _ = _post(server, "/v2/models/versioned/versions/9/infer", body)
    assert status == 404
    status, text, _ = _post(server, "/v2/models/scale/infer", b"{not json")
    assert status == 400
    assert "malformed JSON" in json.loads(text)["error"]
    status, _ = _get(server, "/v2/models/scale/versions/x/config")
    assert status == 400
    status, _ = _get(server, "/v2/not/a/route")
    assert status == 404
    ok, _, _ = _post(server, "/v2/models/scale/infer", body)
    assert ok == 200


def test_shm_disabled_is_unavailable(
    tmp_path_factory: pytest.TempPathFactory, model_repo: Any
) -> None:
    from hepinfer.serve import ServerOptions

    options = ServerOptions(
        [model_repo], grpc_port=None, http_port=0, metrics_port=None, exit_on_error=False
    )
    with InferenceServer(options) as srv:
        client = httpclient.InferenceServerClient(srv.http_url)
        with pytest.raises(InferenceServerException, match="--enable-shm"):
            client.register_system_shared_memory("r", "/k", 16)
        status, _ = _get(srv, "/v2/systemsharedmemory/status")
        assert status == 503


def test_load_with_config_and_files(
    client: httpclient.InferenceServerClient, server: InferenceServer, tmp_path: Path
) -> None:
    """Triton's load overrides over HTTP: 'config' as JSON text, 'file:' in base64."""
    from tests.serve.models import scale_model

    scale_model(tmp_path / "m.onnx", 3.0)
    config = json.dumps(
        {
            "name": "tripler_http",
            "platform": "onnxruntime_onnx",
            "max_batch_size": 4,
            "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
            "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
        }
    )
    files = {"file:1/model.onnx": (tmp_path / "m.onnx").read_bytes()}
    client.load_model("tripler_http", config=config, files=files)
    x = httpclient.InferInput("INPUT0", [1, 4], "FP32")
    x.set_data_from_numpy(np.ones((1, 4), np.float32))
    np.testing.assert_allclose(client.infer("tripler_http", [x]).as_numpy("OUTPUT0"), 3.0)
    body = json.dumps({"parameters": {"file:1/model.onnx": "%%%", "config": config}}).encode()
    status, text, _ = _post(server, "/v2/repository/models/tripler_http/load", body)
    assert status == 400
    assert "must be the file's content in base64" in json.loads(text)["error"]
    body = json.dumps({"parameters": {"colour": "red"}}).encode()
    status, text, _ = _post(server, "/v2/repository/models/scale/load", body)
    assert status == 400
    assert "unknown load parameter 'colour'" in json.loads(text)["error"]
    client.unload_model("tripler_http")
