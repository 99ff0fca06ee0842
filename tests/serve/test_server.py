"""Starting and stopping servers: options, free ports, context manager, failures."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="at least one model repository"):
        ServerOptions([])
    with pytest.raises(ServeError, match="grpc_port 70000"):
        ServerOptions([tmp_path], grpc_port=70000)
    with pytest.raises(ServeError, match="max_message_bytes"):
        ServerOptions([tmp_path], max_message_bytes=0)
    assert ServerOptions([tmp_path]).host == "127.0.0.1"


def test_missing_repository(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="is not a folder"):
        InferenceServer(ServerOptions([tmp_path / "nope"]))


def test_context_manager_starts_and_stops(model_repo: Path) -> None:
    options = ServerOptions(
        [model_repo], grpc_port=0, http_port=0, metrics_port=None, strict_readiness=False
    )
    with InferenceServer(options) as server:
        assert server.grpc_port
        assert server.http_port
        assert server.metrics_port is None
        assert grpcclient.InferenceServerClient(server.grpc_url).is_server_live()
        assert httpclient.InferenceServerClient(server.http_url).is_server_ready()
        port = server.http_port
    with socket.socket() as sock:  # the port is free again
        sock.bind(("127.0.0.1", port))


def test_port_in_use_is_an_error(model_repo: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        options = ServerOptions([model_repo], grpc_port=None, http_port=busy, metrics_port=None)
        with pytest.raises(ServeError, match=f"cannot listen for HTTP on 127.0.0.1:{busy}"):
            InferenceServer(options).start_in_thread()


def test_two_repositories_with_the_same_model(model_repo: Path, tmp_path: Path) -> None:
    (tmp_path / "scale").mkdir()
    options = ServerOptions([model_repo, tmp_path], grpc_port=0, http_port=None, metrics_port=None)
    with pytest.raises(ServeError, match="model 'scale' is in two repositories"):
        InferenceServer(options).start_in_thread()


def test_strict_readiness_follows_failed_models(model_repo: Path, tmp_path: Path) -> None:
    """As Triton's --strict-readiness: not ready while a model failed; ready once it is gone."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(model_repo, repo)
    options = ServerOptions([repo], grpc_port=0, http_port=0, metrics_port=None)
    with InferenceServer(options) as server:
        grpc_client = grpcclient.InferenceServerClient(server.grpc_url)
        http_client = httpclient.InferenceServerClient(server.http_url)
        assert grpc_client.is_server_live()
        assert not grpc_client.is_server_ready()
        assert not http_client.is_server_ready()
        grpc_client.unload_model("broken")  # unloaded on request: no longer a failure
        assert grpc_client.is_server_ready()
        assert http_client.is_server_ready()
        with pytest.raises(Exception, match="onnxruntime cannot load"):
            grpc_client.load_model("broken")
        assert not grpc_client.is_server_ready()
