"""Building the native gRPC front end: cached by content hash, precise errors without g++."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from hepinfer.errors import NativeBuildError, ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.native.build import build_library, native_available
from tests.serve.native.conftest import require_native


def test_build_is_cached() -> None:
    require_native()
    first = build_library()
    assert first.is_file()
    assert build_library() == first
    assert (
        "grpc++" in (first.parent / "build.txt").read_text()
        or "-lgrpc++" in (first.parent / "build.txt").read_text()
    )
    assert native_available()


def test_missing_compiler_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CXX", "g++")
    with pytest.raises(
        NativeBuildError, match=r"C\+\+ compiler 'g\+\+' not found.*libgrpc\+\+-dev"
    ):
        build_library()
    assert not native_available()


def test_missing_pkg_config_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("no g++ here")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CXX", gxx)
    with pytest.raises(NativeBuildError, match=r"pkg-config not found.*grpc_frontend='aio'"):
        build_library()


def test_auto_falls_back_to_aio(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    model_repo: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    options = ServerOptions(
        [model_repo], grpc_port=0, http_port=None, metrics_port=None, exit_on_error=False
    )
    with caplog.at_level(logging.WARNING), InferenceServer(options) as server:
        assert server.grpc_frontend == "aio"
    assert "serving gRPC with grpc.aio" in caplog.text


def test_native_required_but_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_repo: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    options = ServerOptions(
        [model_repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        grpc_frontend="native",
        exit_on_error=False,
    )
    with pytest.raises(NativeBuildError, match="not found"):
        InferenceServer(options).start_in_thread()


def test_options_are_checked() -> None:
    with pytest.raises(ServeError, match="grpc_frontend 'fast' is not one of auto, native, aio"):
        ServerOptions(["models"], grpc_frontend="fast")
    with pytest.raises(ServeError, match="grpc_threads 0 must be at least 1"):
        ServerOptions(["models"], grpc_threads=0)
