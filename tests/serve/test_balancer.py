"""Two real servers behind a real nginx (`hepinfer.serve.balancer`): spread, failover, config."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.balancer import BalancerConfig, NginxBalancer, find_nginx, render_config

try:
    NGINX = find_nginx()
except ServeError:
    pytest.skip(
        "nginx is not installed (`make system` or `apt-get install nginx` installs it)",
        allow_module_level=True,
    )

import tritonclient.grpc as grpcclient


def _inferences(server: InferenceServer, model: str = "scale") -> int:
    """Successful requests the backend itself reports (ModelStatistics, asked directly)."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        stats = client.get_inference_statistics(model, as_json=True)
    finally:
        client.close()
    return sum(int(s["inference_stats"]["success"].get("count", 0)) for s in stats["model_stats"])


def _infer(client: grpcclient.InferenceServerClient, x: np.ndarray) -> np.ndarray:
    inp = grpcclient.InferInput("INPUT0", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("scale", [inp])
    out = result.as_numpy("OUTPUT0")
    assert out is not None
    return out


@pytest.fixture
def backends(model_repo: Path) -> Iterator[list[InferenceServer]]:
    servers = []
    try:
        for _ in range(2):
            options = ServerOptions(
                [model_repo], grpc_port=0, http_port=0, metrics_port=None, exit_on_error=False
            )
            srv = InferenceServer(options)
            srv.start_in_thread()
            servers.append(srv)
        yield servers
    finally:
        for srv in servers:
            srv.stop_thread()


def _balancer(servers: list[InferenceServer], forward_repository: bool = False) -> NginxBalancer:
    config = BalancerConfig(
        grpc_backends=tuple(s.grpc_url for s in servers),
        grpc_port=0,
        http_backends=tuple(s.http_url for s in servers),
        http_port=0,
        forward_repository=forward_repository,
    )
    return NginxBalancer(config)


def test_config_passes_nginx_t(tmp_path: Path) -> None:
    config = BalancerConfig(("127.0.0.1:8001", "10.0.0.2:8001"), http_backends=("127.0.0.1:8000",))
    text = render_config(config)
    assert "grpc_pass grpc://hepinfer_grpc;" in text
    assert text.count("server 127.0.0.1:8001 max_fails=1") == 1
    assert "least_conn;" in text
    assert "client_max_body_size 256m;" in text
    (tmp_path / "nginx.conf").write_text(text)
    check = subprocess.run(
        [NGINX, "-t", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"), "-e", "error.log"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    # without HTTP backends there is no REST listener; round robin has no method line
    grpc_only = render_config(BalancerConfig(("127.0.0.1:8001",), method="round_robin"))
    assert "proxy_pass" not in grpc_only
    assert "least_conn" not in grpc_only


NOT_FORWARDED = "the model-repository API is not forwarded by this load balancer"


def test_repository_api_is_not_forwarded(backends: list[InferenceServer]) -> None:
    """By default the balancer answers the repository API itself: gRPC PERMISSION_DENIED,
    HTTP 403; `forward_repository` passes it on. Inference is forwarded either way.
    """
    from tritonclient.utils import InferenceServerException

    x = np.ones((1, 4), np.float32)
    with _balancer(backends) as lb:
        client = grpcclient.InferenceServerClient(lb.grpc_url)
        for call in (client.get_model_repository_index, lambda: client.load_model("scale")):
            with pytest.raises(InferenceServerException) as e:
                call()
            assert e.value.status() == "StatusCode.PERMISSION_DENIED"
            assert e.value.message() == NOT_FORWARDED
        np.testing.assert_array_equal(_infer(client, x), 2 * x)
        client.close()
        request = urllib.request.Request(f"http://{lb.http_url}/v2/repository/index", data=b"{}")
        with pytest.raises(urllib.error.HTTPError) as h:
            urllib.request.urlopen(request)
        assert h.value.code == 403
        assert json.loads(h.value.read()) == {"error": NOT_FORWARDED}
    with _balancer(backends, forward_repository=True) as lb:
        client = grpcclient.InferenceServerClient(lb.grpc_url)
        assert "scale" in {m.name for m in client.get_model_repository_index().models}
        client.close()


def test_config_errors() -> None:
    with pytest.raises(ServeError, match="at least one gRPC backend"):
        BalancerConfig(())
    with pytest.raises(ServeError, match="'localhost' is not 'host:port'"):
        BalancerConfig(("localhost",))
    with pytest.raises(ServeError, match="method 'fastest' is unknown"):
        BalancerConfig(("127.0.0.1:8001",), method="fastest")
    with pytest.raises(ServeError, match="grpc_port 70000"):
        BalancerConfig(("127.0.0.1:8001",), grpc_port=70000)


def test_spread_and_failover(backends: list[InferenceServer]) -> None:
    """Both backends get requests; with one stopped mid-run every request still succeeds."""
    first, second = backends
    with _balancer(backends) as lb:
        client = grpcclient.InferenceServerClient(lb.grpc_url)
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        for _ in range(20):
            np.testing.assert_array_equal(_infer(client, x), 2 * x)
        counts = [_inferences(s) for s in backends]
        assert sum(counts) == 20
        assert min(counts) > 0, f"one backend got no request: {counts}"

        # REST through the HTTP listener
        with urllib.request.urlopen(f"http://{lb.http_url}/v2/models/scale/ready") as resp:
            assert resp.status == 200
        body = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                            "data": [1, 2, 3, 4]}]}  # fmt: skip
        request = urllib.request.Request(
            f"http://{lb.http_url}/v2/models/scale/infer", data=json.dumps(body).encode()
        )
        with urllib.request.urlopen(request) as resp:
            answer = json.loads(resp.read())
        out = {o["name"]: o["data"] for o in answer["outputs"]}
        assert out["OUTPUT0"] == [2, 4, 6, 8]

        # stop one backend: nginx retries on the other, no request fails
        before = [_inferences(s) for s in backends]
        first.stop_thread()
        for _ in range(20):
            np.testing.assert_array_equal(_infer(client, x), 2 * x)
        assert _inferences(second) == before[1] + 20
        client.close()


def test_failover_with_requests_in_flight(backends: list[InferenceServer]) -> None:
    """A replica stopped while hepinfer.client has requests in flight: every event answered.

    A request the stopping replica has already accepted can be answered CANCELLED, an answer
    nginx passes through; hepinfer.client retries it (through the balancer, onto the other).
    """
    from hepinfer.client import ClientOptions, SonicClient

    first, second = backends
    with _balancer(backends) as lb:
        client = SonicClient(ClientOptions(model="scale", servers=[lb.grpc_url]))
        try:
            events = [np.full((1, 4), i, np.float32) for i in range(120)]
            handles = [client.acquire({"INPUT0": x}) for x in events[:40]]
            for i, x in enumerate(events[40:]):
                if i == 10:
                    first.stop_thread()
                handles.append(client.acquire({"INPUT0": x}))
            for x, handle in zip(events, handles, strict=True):
                np.testing.assert_array_equal(client.produce(handle)["OUTPUT0"], 2 * x)
        finally:
            client.close()
    # the survivor answered at least every event sent after the stop
    assert _inferences(second) >= 120 - 50


def test_hepinfer_client_through_balancer(backends: list[InferenceServer]) -> None:
    from hepinfer.client import ClientOptions, SonicClient

    with _balancer(backends) as lb:
        client = SonicClient(ClientOptions(model="scale", servers=[lb.grpc_url]))
        try:
            x = np.ones((3, 4), np.float32)
            handles = [client.acquire({"INPUT0": x * i}) for i in range(16)]
            for i, handle in enumerate(handles):
                np.testing.assert_array_equal(client.produce(handle)["OUTPUT0"], 2 * i * x)
        finally:
            client.close()
        counts = [_inferences(s) for s in backends]
        assert sum(counts) == 16
        assert min(counts) > 0, f"one backend got no request: {counts}"


def test_start_fails_clearly_on_a_taken_port(backends: list[InferenceServer]) -> None:
    taken = backends[0].grpc_port
    assert taken is not None
    config = BalancerConfig((backends[1].grpc_url,), grpc_port=taken)
    with pytest.raises(ServeError, match=r"nginx exited.*already in use"):
        NginxBalancer(config).start(timeout=5)
