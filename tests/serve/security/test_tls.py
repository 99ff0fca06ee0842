"""TLS and mutual TLS for gRPC and HTTPS, with certificates made in the test; the SONIC client
and `hepinfer bench` speak it (issue 17, item 3).
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.bench.target import Target
from hepinfer.client import ClientOptions, SonicClient
from hepinfer.client.tls import TlsOptions
from hepinfer.errors import ClientError, ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.tls import ServerTls
from tests.serve.models import build_repository
from tests.serve.native.conftest import require_native
from tests.serve.security.certs import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("repo"))


def _serve(repo: Path, pki: Pki, mutual: bool, frontend: str) -> InferenceServer:
    tls = ServerTls(pki.server_cert, pki.server_key, pki.ca if mutual else None, mutual)
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=0,
        metrics_port=None,
        grpc_tls=tls,
        http_tls=tls,
        grpc_frontend=frontend,
        exit_on_error=False,  # the test repository holds a broken model on purpose
    )
    return InferenceServer(options)


@pytest.fixture(scope="module", params=["native", "aio"])
def frontend(request: pytest.FixtureRequest) -> str:
    """Every TLS test runs against both gRPC front ends."""
    if request.param == "native":
        require_native()
    return str(request.param)


@pytest.fixture(scope="module")
def tls_server(repo: Path, pki: Pki, frontend: str) -> Iterator[InferenceServer]:
    with _serve(repo, pki, mutual=False, frontend=frontend) as srv:
        assert srv.grpc_frontend == frontend
        yield srv


@pytest.fixture(scope="module")
def mtls_server(repo: Path, pki: Pki, frontend: str) -> Iterator[InferenceServer]:
    with _serve(repo, pki, mutual=True, frontend=frontend) as srv:
        assert srv.grpc_frontend == frontend
        yield srv


def _infer(client: grpcclient.InferenceServerClient) -> np.ndarray:
    x = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    x.set_data_from_numpy(np.arange(4, dtype=np.float32).reshape(1, 4))
    out: np.ndarray = client.infer("scale", [x], client_timeout=10).as_numpy("OUTPUT0")
    return out


def test_grpc_tls(tls_server: InferenceServer, pki: Pki) -> None:
    client = grpcclient.InferenceServerClient(
        tls_server.grpc_url, ssl=True, root_certificates=str(pki.ca)
    )
    np.testing.assert_array_equal(_infer(client), [[0, 2, 4, 6]])
    # a plain-text client gets no answer
    plain = grpcclient.InferenceServerClient(tls_server.grpc_url)
    with pytest.raises(InferenceServerException) as e:
        _infer(plain)
    assert e.value.status() == "StatusCode.UNAVAILABLE"
    # a client that does not trust the CA refuses the server
    stranger = grpcclient.InferenceServerClient(
        tls_server.grpc_url, ssl=True, root_certificates=str(pki.stranger_cert)
    )
    with pytest.raises(InferenceServerException):
        _infer(stranger)


def test_grpc_mutual_tls(mtls_server: InferenceServer, pki: Pki) -> None:
    good = grpcclient.InferenceServerClient(
        mtls_server.grpc_url,
        ssl=True,
        root_certificates=str(pki.ca),
        private_key=str(pki.client_key),
        certificate_chain=str(pki.client_cert),
    )
    np.testing.assert_array_equal(_infer(good), [[0, 2, 4, 6]])
    for key, cert in ((None, None), (pki.stranger_key, pki.stranger_cert)):
        client = grpcclient.InferenceServerClient(
            mtls_server.grpc_url,
            ssl=True,
            root_certificates=str(pki.ca),
            private_key=None if key is None else str(key),
            certificate_chain=None if cert is None else str(cert),
        )
        with pytest.raises(InferenceServerException) as e:
            _infer(client)
        assert e.value.status() == "StatusCode.UNAVAILABLE"


def _https_get(url: str, context: ssl.SSLContext) -> int:
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return int(response.status)


def test_https(tls_server: InferenceServer, mtls_server: InferenceServer, pki: Pki) -> None:
    trusting = ssl.create_default_context(cafile=str(pki.ca))
    assert _https_get(f"https://{tls_server.http_url}/v2/health/live", trusting) == 200
    with pytest.raises(urllib.error.URLError):  # no certificate verification possible
        _https_get(f"https://{tls_server.http_url}/v2/health/live", ssl.create_default_context())
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP is refused
        urllib.request.urlopen(f"http://{tls_server.http_url}/v2/health/live", timeout=10)
    # mutual: only with the client certificate
    url = f"https://{mtls_server.http_url}/v2/health/live"
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        _https_get(url, trusting)
    mutual = ssl.create_default_context(cafile=str(pki.ca))
    mutual.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    assert _https_get(url, mutual) == 200


def test_sonic_client_over_mutual_tls(mtls_server: InferenceServer, pki: Pki) -> None:
    tls = TlsOptions(pki.ca, pki.client_key, pki.client_cert)
    opts = ClientOptions("scale", servers=(mtls_server.grpc_url,), tls=tls, health_interval_s=0)
    with SonicClient(opts) as client:
        out = client.produce(client.acquire({"INPUT0": np.ones((3, 4), np.float32)}))
    np.testing.assert_array_equal(out["OUTPUT0"], 2.0)


def test_bench_target_over_tls(tls_server: InferenceServer, pki: Pki) -> None:
    async def main() -> str:
        async with Target(tls_server.grpc_url, "scale", tls=TlsOptions(pki.ca)) as target:
            assert target.model is not None
            return target.model.name

    assert asyncio.run(main()) == "scale"


def test_bad_tls_options(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="needs the root certificate"):
        ServerTls(pki.server_cert, pki.server_key, mutual=True)
    with pytest.raises(ServeError, match="cannot be read"):
        ServerTls(tmp_path / "missing.crt", pki.server_key)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ServeError, match="not a PEM file"):
        ServerTls(tmp_path / "junk.pem", pki.server_key)
    with pytest.raises(ClientError, match="needs both"):
        TlsOptions(pki.ca, private_key=pki.client_key)


def test_hepinfer_bench_cli_tls_flags(
    tls_server: InferenceServer, pki: Pki, tmp_path: Path
) -> None:
    from hepinfer.cli import main

    out = tmp_path / "pa.csv"
    code = main(
        [
            "bench",
            "-m",
            "scale",
            "-u",
            tls_server.grpc_url,
            "--ssl-grpc-use-ssl",
            "--ssl-grpc-root-certifications-file",
            str(pki.ca),
            "--concurrency-range",
            "1:1",
            "--measurement-interval",
            "300",
            "-f",
            str(out),
        ]
    )
    assert code == 0
    assert out.read_text().startswith("Concurrency,")
