"""Fault tolerance: servers killed in the middle of a run; every event answered exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hepinfer.client import ClientOptions, FallbackOptions, InferenceHandle, Mode, SonicClient
from hepinfer.client.connection import Connection
from tests.peers_util import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """`hepinfer serve` in its own process (so that it can be killed like a crashed node)."""

    def __init__(self, repo: Path) -> None:
        self.port = free_port()
        self.url = f"127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hepinfer",
                "serve",
                str(repo),
                "--grpc-port",
                str(self.port),
                "--http-port",
                "-1",
                "--metrics-port",
                "-1",
                "--no-uvloop",
                "--exit-on-error=false",  # the repository has a broken model on purpose
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        conn = Connection(self.url, 1 << 20)
        try:
            deadline = time.monotonic() + 60
            while not conn.check("scale", "", 0.5):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    pytest.fail(f"hepinfer serve on {self.url} did not start")
                time.sleep(0.1)
        finally:
            conn.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def two_servers(model_repo: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    a, b = ServerProcess(model_repo), ServerProcess(model_repo)
    yield a, b
    a.kill()
    b.kill()


def _event(i: int) -> np.ndarray:
    return np.full((1 + i % 5, 4), float(i), np.float32)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "streaming"), [(Mode.ASYNC, False), (Mode.PSEUDO_ASYNC, False), (Mode.ASYNC, True)]
)
def test_kill_servers_mid_run(
    model_repo: Path,
    two_servers: tuple[ServerProcess, ServerProcess],
    mode: Mode,
    streaming: bool,
) -> None:
    a, b = two_servers
    n_events, window = 300, 8
    opts = ClientOptions(
        "scale",
        servers=(a.url, b.url),
        mode=mode,
        streaming=streaming,
        timeout_s=10,
        allowed_tries=4,
        health_interval_s=0.2,
        health_timeout_s=0.5,
        fallback=FallbackOptions((model_repo,)),
    )
    answers: dict[int, np.ndarray] = {}
    with SonicClient(opts) as client:
        pending: deque[tuple[int, InferenceHandle[dict[str, np.ndarray]]]] = deque()
        for i in range(n_events):
            if i == 100:
                a.kill()  # with requests in flight
            if i == 200:
                b.kill()  # now only the fallback can answer
            pending.append((i, client.acquire({"INPUT0": _event(i)})))
            if len(pending) >= window:
                j, handle = pending.popleft()
                assert j not in answers
                answers[j] = client.produce(handle)["OUTPUT0"]
        while pending:
            j, handle = pending.popleft()
            answers[j] = client.produce(handle)["OUTPUT0"]
        stats = client.stats()
    # every event answered once, with its own result
    assert sorted(answers) == list(range(n_events))
    for i, out in answers.items():
        np.testing.assert_array_equal(out, 2 * _event(i))
    assert stats.failures == 0
    assert stats.requests == n_events
    assert stats.fallback_started
    # the client's per-server answer counts add up to the events, each server took a share
    assert sum(stats.per_server.values()) == n_events
    assert stats.per_server[a.url] > 0
    assert stats.per_server[b.url] > 0
    assert stats.per_server[a.url] + stats.per_server[b.url] <= 200 + window
    assert len(stats.per_server) == 3
