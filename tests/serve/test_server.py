"""Starting and stopping servers: options, free ports, context manager, failures."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.models import SCALE_CONFIG, scale_model


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
        [model_repo],
        grpc_port=0,
        http_port=0,
        metrics_port=None,
        strict_readiness=False,
        exit_on_error=False,
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
        options = ServerOptions(
            [model_repo], grpc_port=None, http_port=busy, metrics_port=None, exit_on_error=False
        )
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
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=0,
        metrics_port=None,
        model_control_mode="explicit",
        load_models=("*",),
        exit_on_error=False,
    )
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


def test_exit_on_error_fails_start_up(model_repo: Path) -> None:
    """Triton's default --exit-on-error: a model that fails to load stops the start."""
    options = ServerOptions([model_repo], grpc_port=0, http_port=None, metrics_port=None)
    assert options.exit_on_error
    with pytest.raises(ServeError, match=r"failed to load all models \(broken: model 'broken'"):
        InferenceServer(options).start_in_thread()


def test_status_table_and_state_changes_are_logged(
    model_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    options = ServerOptions(
        [model_repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        exit_on_error=False,
        model_control_mode="explicit",
        load_models=("scale", "broken"),
    )
    with caplog.at_level(logging.INFO, logger="hepinfer.serve"), InferenceServer(options) as srv:
        client = grpcclient.InferenceServerClient(srv.grpc_url)
        client.unload_model("scale")
        assert not client.is_server_ready()  # strict readiness: broken failed
    text = caplog.text
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert [c.strip() for c in table[0].split("|")[1:4]] == ["Model", "Version", "Status"]
    assert [row.split("|")[1].strip() for row in table[1:]] == ["broken", "scale"]
    assert "| UNAVAILABLE: model 'broken': onnxruntime cannot load" in table[1]
    assert "ints" not in "".join(table)  # explicit mode: not asked for, not in the table
    assert "model scale: LOADING -> READY (versions [1])" in text
    assert "model broken: LOADING -> UNAVAILABLE (model 'broken': onnxruntime cannot load" in text
    assert "model scale: READY -> UNAVAILABLE (unloaded)" in text
    assert "serving without model broken, which failed to load" in text


def test_config_tensors_that_the_model_lacks_fail_the_load(tmp_path: Path) -> None:
    """Was: READY, then every request failed with an onnxruntime-internal message."""
    scale_model(tmp_path / "wrong" / "1" / "model.onnx", 2.0)
    (tmp_path / "wrong" / "config.pbtxt").write_text(
        SCALE_CONFIG.format(name="wrong", extra="")
        .replace(' label_filename: "labels.txt"', "")
        .replace('"INPUT0"', '"INPUT_TYPO"')
    )
    options = ServerOptions(
        [tmp_path], grpc_port=0, http_port=None, metrics_port=None, exit_on_error=False
    )
    with InferenceServer(options) as srv:
        client = grpcclient.InferenceServerClient(srv.grpc_url)
        assert not client.is_model_ready("wrong")
        (entry,) = client.get_model_repository_index().models
        assert entry.state == "UNAVAILABLE"
        assert entry.reason == (
            "unable to load model 'wrong', unexpected inference input 'INPUT_TYPO' in "
            "config.pbtxt: the ONNX model has no such input; allowed inputs are: INPUT0"
        )
