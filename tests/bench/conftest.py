"""Fixtures: a repository of small ONNX models and a hepinfer server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("tritonclient.grpc")
pytest.importorskip("onnxruntime")

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.models import SCALE_CONFIG, build_repository, scale_model


def bench_repository(root: Path) -> Path:
    """The server tests' models plus 'fast' (batching, no queue delay)."""
    build_repository(root)
    scale_model(root / "fast" / "1" / "model.onnx", 2.0)
    (root / "fast" / "config.pbtxt").write_text(
        SCALE_CONFIG.format(name="fast", extra="").replace(' label_filename: "labels.txt"', "")
    )
    return root


def start_server(repo: Path, *, http: bool = False, shm: bool = False) -> InferenceServer:
    """A hepinfer server (gRPC; HTTP and system shared memory when asked) on free
    127.0.0.1 ports, in a thread.
    """
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=0 if http else None,
        metrics_port=None,
        exit_on_error=False,  # the repository has a broken model on purpose
        enable_shm=shm,
    )
    srv = InferenceServer(options)
    srv.start_in_thread()
    return srv


@pytest.fixture(scope="module")
def model_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bench test models."""
    return bench_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def server(model_repo: Path) -> Iterator[InferenceServer]:
    """A running hepinfer server."""
    srv = start_server(model_repo)
    yield srv
    srv.stop_thread()
