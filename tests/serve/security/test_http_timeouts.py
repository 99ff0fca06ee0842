"""HTTP connections that trickle their headers or stall their body are closed in bounded time
(issue 17, item 5: slow-loris and stalled uploads).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as httpclient

from hepinfer.serve import InferenceServer
from tests.serve.models import build_repository
from tests.serve.security.servers import options_for


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    repo = build_repository(tmp_path_factory.mktemp("repo"))
    options = options_for(repo, grpc_port=None, http_header_timeout_s=1.5, http_body_timeout_s=1.0)
    with InferenceServer(options) as srv:
        yield srv


def _connect(server: InferenceServer) -> socket.socket:
    host, port = server.http_url.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.settimeout(0.25)
    return sock


def _closed_after(sock: socket.socket, trickle: bytes, limit_s: float) -> tuple[float, bytes]:
    """Send `trickle` one byte every 0.25 s; (seconds until the server closed, what it said)."""
    start = time.monotonic()
    said = b""
    for i in range(10_000):
        if time.monotonic() - start > limit_s:
            break
        try:
            if i < len(trickle):
                sock.send(trickle[i : i + 1])
            chunk = sock.recv(4096)
            if not chunk:
                return time.monotonic() - start, said
            said += chunk
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start, said
    return float("inf"), said


def test_trickled_headers_are_cut(slow_server: InferenceServer) -> None:
    with _connect(slow_server) as sock:
        request = b"POST /v2/models/scale/infer HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        seconds, _ = _closed_after(sock, request, limit_s=10)
    assert seconds < 5


def test_stalled_body_gets_408(slow_server: InferenceServer) -> None:
    with _connect(slow_server) as sock:
        sock.sendall(
            b"POST /v2/models/scale/infer HTTP/1.1\r\nHost: x\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"inputs": ['
        )
        seconds, said = _closed_after(sock, b"", limit_s=10)
    assert seconds < 5
    assert said.startswith(b"HTTP/1.1 408")
    assert b"did not arrive within 1 s" in said


def test_good_requests_still_served(slow_server: InferenceServer) -> None:
    client = httpclient.InferenceServerClient(slow_server.http_url)
    x = httpclient.InferInput("INPUT0", [1, 4], "FP32")
    x.set_data_from_numpy(np.ones((1, 4), np.float32))
    for _ in range(3):
        np.testing.assert_array_equal(client.infer("scale", [x]).as_numpy("OUTPUT0"), 2.0)
        time.sleep(0.5)
