"""`hepinfer serve` as a user runs it: a real process, stopped with SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tritonclient.grpc")
import tritonclient.grpc as grpcclient

from tests.serve.models import build_repository


@contextmanager
def _serve(*args: str) -> Iterator[tuple[int, list[str]]]:
    """`hepinfer -v serve ARGS` in its own process; yields (gRPC port, stderr lines so far)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hepinfer", "-v", "serve", *args, "--metrics-port", "-1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        port = None
        while time.monotonic() < deadline and port is None:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if match := re.search(r"gRPC (\d+), HTTP (\S+), metrics None", line):
                port = int(match[1])
        assert port, "the server did not report its ports:\n" + "".join(lines[-20:])
        yield port, lines
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _infer_scale(port: int) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
    inp = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    inp.set_data_from_numpy(np.ones((1, 4), np.float32))
    np.testing.assert_array_equal(
        client.infer("scale", [inp]).as_numpy("OUTPUT0"), 2 * np.ones((1, 4))
    )


def test_serve_command(tmp_path: Path) -> None:
    repo = build_repository(tmp_path / "repo")
    # the repository has a broken model on purpose
    with _serve(str(repo), "--grpc-port", "0", "--http-port", "0", "--exit-on-error=false") as (
        port,
        _,
    ):
        _infer_scale(port)


def test_serve_takes_tritonserver_flags(tmp_path: Path) -> None:
    """`--model-repository=PATH` and `--log-verbose=1`, as tritonserver takes them."""
    repo = build_repository(tmp_path / "repo")
    args = (f"--model-repository={repo}", "--log-verbose=1", "--grpc-port=0", "--http-port=-1")
    with _serve(*args, "--exit-on-error=false") as (port, lines):
        _infer_scale(port)
        assert any(" DEBUG " in line for line in lines)
    result = subprocess.run(
        [sys.executable, "-m", "hepinfer", "serve", "--grpc-port", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no model repository" in result.stderr


def test_serve_bad_repository(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hepinfer", "serve", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "is not a folder" in result.stderr


def _grpc_only(repo: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "hepinfer", "serve", str(repo), "--grpc-port", "0"),
        *("--http-port", "-1", "--metrics-port", "-1", "--grpc-frontend", "aio"),
    ]


def test_serve_exits_when_a_model_fails(tmp_path: Path) -> None:
    """Triton's default --exit-on-error=true: start-up fails, naming the model and why."""
    repo = build_repository(tmp_path / "repo")
    result = subprocess.run(
        _grpc_only(repo),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "failed to load all models (broken: model 'broken': onnxruntime cannot load" in (
        result.stderr
    )
    assert re.search(r"\| broken +\| - +\| UNAVAILABLE: model 'broken'", result.stderr)
    assert re.search(r"\| scale +\| 1 +\| READY", result.stderr)


def test_serve_control_flags(tmp_path: Path) -> None:
    """--model-control-mode explicit, --load-model and --grpc-restricted-protocol reach the server."""
    repo = build_repository(tmp_path / "repo")
    proc = subprocess.Popen(
        [
            *_grpc_only(repo),
            *("--model-control-mode", "explicit", "--load-model", "scale"),
            *("--load-model", "ints", "--grpc-restricted-protocol", "model-repository:adm=pw"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        port = None
        while time.monotonic() < deadline and port is None:
            line = proc.stderr.readline()
            if not line:
                break
            if match := re.search(r"gRPC (\d+), HTTP None", line):
                port = int(match[1])
        assert port, "the server did not report its ports"
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
        assert client.is_model_ready("scale")
        assert client.is_model_ready("ints")
        assert not client.is_model_ready("strings")
        with pytest.raises(Exception, match="expecting header 'triton-grpc-protocol-adm'"):
            client.load_model("strings")
        client.load_model("strings", headers={"triton-grpc-protocol-adm": "pw"})
        assert client.is_model_ready("strings")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize("flag", ["--strict-model-config=true", "--disable-auto-complete-config"])
def test_serve_strict_model_config(tmp_path: Path, flag: str) -> None:
    """--strict-model-config=true: the model without config.pbtxt fails, the others serve."""
    repo = build_repository(tmp_path / "repo")
    args = (str(repo), "--grpc-port=0", "--http-port=-1", "--exit-on-error=false", flag)
    with _serve(*args) as (port, _):
        _infer_scale(port)
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
        assert not client.is_model_ready("auto")
        index = {m.name: m.reason for m in client.get_model_repository_index().models}
        assert index["auto"].startswith("failed to open text file for read ")
    with _serve(str(repo), "--grpc-port=0", "--http-port=-1", "--exit-on-error=false") as (
        port,
        _,
    ):
        assert grpcclient.InferenceServerClient(f"127.0.0.1:{port}").is_model_ready("auto")
