"""Model control modes (Triton's --model-control-mode, --load-model, --repository-poll-secs).

Load and unload are refused outside the explicit mode with Triton 2.51's answer (checked
against the real Triton: gRPC UNAVAILABLE / HTTP 503 "explicit model load / unload is not
allowed if polling is enabled"); explicit mode loads only what it is told; poll mode follows
the repository folder.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.models import SCALE_CONFIG, build_repository, scale_model

REFUSAL = "explicit model load / unload is not allowed if polling is enabled"


def _post(server: InferenceServer, path: str) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{server.http_url}{path}", data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _server(repo: Path, **extra: object) -> InferenceServer:
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=0,
        metrics_port=None,
        exit_on_error=False,
        grpc_frontend="aio",
        **extra,  # type: ignore[arg-type]
    )
    return InferenceServer(options)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def none_server(repo: Path) -> Iterator[InferenceServer]:
    with _server(repo) as srv:  # the default mode
        yield srv


def test_default_mode_is_none() -> None:
    assert ServerOptions(["models"]).model_control_mode == "none"
    assert ServerOptions(["models"]).exit_on_error is True  # as Triton


@pytest.mark.parametrize("name", ["scale", "ints", "not_there"])
def test_none_mode_refuses_grpc_load_and_unload(none_server: InferenceServer, name: str) -> None:
    client = grpcclient.InferenceServerClient(none_server.grpc_url)
    for call in (client.load_model, client.unload_model):
        with pytest.raises(InferenceServerException) as e:
            call(name)
        assert e.value.status() == "StatusCode.UNAVAILABLE"
        assert e.value.message() == REFUSAL
    assert client.is_model_ready("scale")  # nothing changed


@pytest.mark.parametrize("action", ["load", "unload"])
def test_none_mode_refuses_http_load_and_unload(none_server: InferenceServer, action: str) -> None:
    status, body = _post(none_server, f"/v2/repository/models/scale/{action}")
    assert status == 503
    assert body == b'{"error":"' + REFUSAL.encode() + b'"}'
    client = httpclient.InferenceServerClient(none_server.http_url)
    with pytest.raises(InferenceServerException, match="not allowed"):
        client.load_model("scale")
    assert client.is_model_ready("scale")


def test_none_mode_loads_everything_and_indexes(none_server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(none_server.grpc_url)
    index = {m.name: m for m in client.get_model_repository_index().models}
    assert {"scale", "ints", "strings", "auto", "versioned", "broken"} <= set(index)
    assert index["broken"].state == "UNAVAILABLE"
    assert "onnxruntime cannot load" in index["broken"].reason


def test_poll_mode_refuses_load(repo: Path) -> None:
    with _server(repo, model_control_mode="poll", repository_poll_secs=60) as srv:
        client = grpcclient.InferenceServerClient(srv.grpc_url)
        with pytest.raises(InferenceServerException, match=REFUSAL) as e:
            client.load_model("scale")
        assert e.value.status() == "StatusCode.UNAVAILABLE"


def test_explicit_mode_loads_only_what_it_is_told(repo: Path) -> None:
    with _server(repo, model_control_mode="explicit", load_models=("scale",)) as srv:
        client = grpcclient.InferenceServerClient(srv.grpc_url)
        assert client.is_model_ready("scale")
        assert not client.is_model_ready("ints")
        assert client.is_server_ready()  # nothing failed: models not asked for do not count
        client.load_model("ints")
        assert client.is_model_ready("ints")
        client.unload_model("scale")
        assert not client.is_model_ready("scale")


def test_explicit_mode_star_loads_all(repo: Path) -> None:
    with _server(repo, model_control_mode="explicit", load_models=("*",)) as srv:
        client = grpcclient.InferenceServerClient(srv.grpc_url)
        for name in ("scale", "ints", "strings", "auto", "versioned"):
            assert client.is_model_ready(name), name


def test_explicit_mode_without_models_loads_nothing(repo: Path) -> None:
    with _server(repo, model_control_mode="explicit") as srv:
        client = grpcclient.InferenceServerClient(srv.grpc_url)
        assert not client.is_model_ready("scale")
        assert all(m.state != "READY" for m in client.get_model_repository_index().models)


def test_explicit_mode_with_a_missing_model_fails_start_up(repo: Path) -> None:
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        model_control_mode="explicit",
        load_models=("scale", "nope"),
    )
    with pytest.raises(
        ServeError, match=r"failed to load all models \(nope: no model folder 'nope' in "
    ):
        InferenceServer(options).start_in_thread()


def test_load_models_needs_explicit_mode(repo: Path) -> None:
    with pytest.raises(
        ServeError, match=r"Use of '--load-model' requires setting '--model-control-mode=explicit'"
    ):
        ServerOptions([repo], load_models=("scale",))
    with pytest.raises(ServeError, match="model_control_mode 'auto' is not one of"):
        ServerOptions([repo], model_control_mode="auto")
    with pytest.raises(ServeError, match="repository_poll_secs 0 must be positive"):
        ServerOptions([repo], repository_poll_secs=0)


def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_poll_mode_follows_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    scale_model(repo / "first" / "1" / "model.onnx", 2.0)
    config = SCALE_CONFIG.replace(' label_filename: "labels.txt"', "")
    (repo / "first" / "config.pbtxt").write_text(config.format(name="first", extra=""))
    with _server(repo, model_control_mode="poll", repository_poll_secs=0.2) as srv:
        client = grpcclient.InferenceServerClient(srv.grpc_url)
        assert client.is_model_ready("first")
        # added
        scale_model(repo / "second" / "1" / "model.onnx", 3.0)
        (repo / "second" / "config.pbtxt").write_text(config.format(name="second", extra=""))
        assert _wait(lambda: client.is_model_ready("second"))
        # changed: a new version folder is loaded (policy: latest 1)
        scale_model(repo / "first" / "2" / "model.onnx", 5.0)
        assert _wait(lambda: client.is_model_ready("first", "2"))
        assert not client.is_model_ready("first", "1")
        # removed
        shutil.rmtree(repo / "second")
        assert _wait(lambda: not client.is_model_ready("second"))
        names = {m.name for m in client.get_model_repository_index().models}
        assert "second" not in names
        # broken by an edit: the loaded versions stay, as in Triton
        (repo / "first" / "config.pbtxt").write_text("this is not a model config")
        time.sleep(1.0)
        assert client.is_model_ready("first", "2")
