"""`hepinfer serve` as a user runs it: a real process, stopped with SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tritonclient.grpc")
import tritonclient.grpc as grpcclient

from tests.serve.models import build_repository


def test_serve_command(tmp_path: Path) -> None:
    repo = build_repository(tmp_path / "repo")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hepinfer",
            "-v",
            "serve",
            str(repo),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--metrics-port",
            "-1",
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
            if match := re.search(r"gRPC (\d+), HTTP (\d+), metrics None", line):
                port = int(match[1])
        assert port, "the server did not report its ports"
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
        inp = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
        inp.set_data_from_numpy(np.ones((1, 4), np.float32))
        np.testing.assert_array_equal(
            client.infer("scale", [inp]).as_numpy("OUTPUT0"), 2 * np.ones((1, 4))
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


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
