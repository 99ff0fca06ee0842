"""`hepinfer serve-lb` as a user runs it: the written config, and nginx run and stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hepinfer.cli import main
from hepinfer.errors import ServeError
from hepinfer.serve.balancer import find_nginx


def test_write_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lb" / "nginx.conf"
    code = main(
        [
            "serve-lb",
            "--backend",
            "127.0.0.1:8001",
            "--backend",
            "127.0.0.1:9001",
            "--http-backend",
            "127.0.0.1:8000",
            "--grpc-port",
            "8101",
            "--method",
            "random",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    text = out.read_text()
    assert "listen 127.0.0.1:8101 http2;" in text or "http2 on;" in text
    assert "server 127.0.0.1:9001 max_fails=1 fail_timeout=10s;" in text
    assert "random;" in text
    assert "proxy_pass http://hepinfer_http;" in text
    assert str(out) in capsys.readouterr().out


def test_bad_backend_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-lb", "--backend", "8001", "-o", str(tmp_path / "x.conf")]) == 1
    assert "gRPC backend '8001' is not 'host:port'" in capsys.readouterr().err
    assert not (tmp_path / "x.conf").exists()


def test_run_and_stop(tmp_path: Path) -> None:
    try:
        find_nginx()
    except ServeError:
        pytest.skip("nginx is not installed (`make system` or `apt-get install nginx`)")
    prefix = tmp_path / "prefix"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hepinfer",
            "serve-lb",
            "--backend",
            "127.0.0.1:9",
            "--grpc-port",
            "0",
            "--prefix",
            str(prefix),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert re.search(r"nginx balancing gRPC 127\.0\.0\.1:\d+ over 1 replica", line), line
    pid = int((prefix / "nginx.pid").read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    proc.stderr.close()
    assert not (prefix / "nginx.pid").exists(), "nginx did not stop"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
