"""Fixtures: the server tests' model repository and a hepinfer server on free ports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("tritonclient.grpc")
pytest.importorskip("onnxruntime")

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.models import build_repository


@pytest.fixture(scope="module")
def model_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh repository of small test models (scale, ints, strings, ...)."""
    return build_repository(tmp_path_factory.mktemp("repo"))


def start_server(repo: Path) -> InferenceServer:
    """A hepinfer server (gRPC only) on a free 127.0.0.1 port, running in a thread."""
    options = ServerOptions(
        [repo], grpc_port=0, http_port=None, metrics_port=None, exit_on_error=False
    )  # the repository has a broken model on purpose
    server = InferenceServer(options)
    server.start_in_thread()
    return server


@pytest.fixture(scope="module")
def server(model_repo: Path) -> Iterator[InferenceServer]:
    """A running hepinfer server."""
    srv = start_server(model_repo)
    yield srv
    srv.stop_thread()


@pytest.fixture
def dead_url() -> str:
    """An address where nothing listens (a port bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"
