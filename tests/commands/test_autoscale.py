"""`hepinfer autoscale` as a user runs it: replicas and nginx up, a request served, SIGTERM
stops everything it started.
"""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hepinfer.cli import main
from hepinfer.errors import ServeError
from hepinfer.serve.balancer import find_nginx


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_bad_policy_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["autoscale", str(tmp_path), "--min-replicas", "3", "--max-replicas", "2"])
    assert code == 1
    assert "replicas min 3 / max 2: need 1 <= min <= max" in capsys.readouterr().err
    assert main(["autoscale", str(tmp_path), "--interval", "20", "--window", "30"]) == 1
    assert "make it at least twice the interval" in capsys.readouterr().err


def test_run_serve_and_stop(tmp_path: Path) -> None:
    try:
        find_nginx()
    except ServeError:
        pytest.skip("nginx is not installed (`make system` or `apt-get install nginx`)")
    pytest.importorskip("onnxruntime")
    import tritonclient.grpc as grpcclient

    from tests.serve.models import SLOW_WIDTH, slow_repository

    repo = slow_repository(tmp_path / "repo", layers=1)
    command = [
        sys.executable, "-m", "hepinfer", "autoscale", str(repo), "--grpc-port", "0",
        "--max-replicas", "1", "--interval", "0.5", "--window", "2",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        deadline, url, lines = time.monotonic() + 120, None, []
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stderr], [], [], 1.0)[0]:
                lines.append(proc.stderr.readline())
                found = re.search(r"autoscaler: 1 replica\(s\) behind (\S+)", lines[-1])
                url = found.group(1) if found else None
        assert url is not None, "".join(lines)
        children = _children(proc.pid)
        assert len(children) == 2  # the replica and nginx
        client = grpcclient.InferenceServerClient(url)
        x = np.ones((1, SLOW_WIDTH), np.float32)
        inp = grpcclient.InferInput("X", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        out = client.infer("slow", [inp]).as_numpy("Y")
        client.close()
        assert out is not None
        assert out.shape == (1, SLOW_WIDTH)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not [pid for pid in children if _running(pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
