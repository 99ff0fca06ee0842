"""Fixtures: a repository of small ONNX models and a real server on free 127.0.0.1 ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("tritonclient.grpc")
pytest.importorskip("onnxruntime")

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.models import build_repository


@pytest.fixture(scope="module")
def model_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh repository of test models (one per test module)."""
    return build_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def server(model_repo: Path) -> Iterator[InferenceServer]:
    """A running server (gRPC, HTTP, metrics on free ports, shared memory enabled)."""
    options = ServerOptions(
        [model_repo],
        grpc_port=0,
        http_port=0,
        metrics_port=0,
        enable_shm=True,
        model_control_mode="explicit",  # the tests load and unload models
        load_models=("*",),
        exit_on_error=False,  # the repository has a broken model on purpose
    )
    with InferenceServer(options) as srv:
        yield srv
