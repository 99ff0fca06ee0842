"""The refusals answer exactly as the real Triton 2.51 does (the peer in HEPINFER_PEERS).

One Triton and one hepinfer server with the same flags (model-control mode none, the
repository API restricted over gRPC and HTTP) get the same calls; status codes and messages
must be equal. Skipped where the Triton peer is not installed.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from tests.peers_util import TritonPeer, tiny_mlp_onnx, write_model_repository
from tests.serve.models import build_repository

GRPC_SPEC = "model-repository,statistics:admin=pw"
HTTP_SPEC = "model-repository,metadata:admin=pw"
GRPC_KEY = {"triton-grpc-protocol-admin": "pw"}


@pytest.fixture(scope="module")
def pair(
    tritonserver_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str, str]]:
    """(triton gRPC, triton HTTP, hepinfer gRPC, hepinfer HTTP) addresses."""
    root = tmp_path_factory.mktemp("parity")
    onnx_path = tiny_mlp_onnx(root / "tiny.onnx")
    write_model_repository(onnx_path, root / "triton_repo", "tiny")
    args = (
        "--model-control-mode=none",
        f"--grpc-restricted-protocol={GRPC_SPEC}",
        f"--http-restricted-api={HTTP_SPEC}",
    )
    options = ServerOptions(
        [build_repository(root / "repo")],
        grpc_port=0,
        http_port=0,
        metrics_port=None,
        exit_on_error=False,
        grpc_restricted=(GRPC_SPEC,),
        http_restricted=(HTTP_SPEC,),
    )
    with (
        TritonPeer(root / "triton_repo", binary=tritonserver_bin, extra_args=args) as triton,
        InferenceServer(options) as ours,
    ):
        yield triton.grpc_url, triton.http_url, ours.grpc_url, ours.http_url


def _grpc_answer(url: str, call: Callable[[grpcclient.InferenceServerClient], object]) -> str:
    client = grpcclient.InferenceServerClient(url)
    try:
        call(client)
    except InferenceServerException as exc:
        return f"{exc.status()} {exc.message()}"
    finally:
        client.close()
    return "OK"


GRPC_CALLS: dict[str, Callable[[grpcclient.InferenceServerClient], object]] = {
    "load, no key": lambda c: c.load_model("tiny"),
    "unload, no key": lambda c: c.unload_model("tiny"),
    "index, no key": lambda c: c.get_model_repository_index(),
    "index, wrong value": lambda c: c.get_model_repository_index(
        headers={"triton-grpc-protocol-admin": "no"}
    ),
    "index, key without prefix": lambda c: c.get_model_repository_index(headers={"admin": "pw"}),
    "statistics, no key": lambda c: c.get_inference_statistics(),
    "load, key": lambda c: c.load_model("tiny", headers=GRPC_KEY),
    "unload, key": lambda c: c.unload_model("tiny", headers=GRPC_KEY),
    "index, key": lambda c: c.get_model_repository_index(headers=GRPC_KEY),
    "live (open)": lambda c: c.is_server_live(),
    "metadata (open on gRPC)": lambda c: c.get_server_metadata(),
}


@pytest.mark.parametrize("case", list(GRPC_CALLS))
def test_grpc_answers_match_triton(pair: tuple[str, str, str, str], case: str) -> None:
    triton_grpc, _, ours_grpc, _ = pair
    theirs = _grpc_answer(triton_grpc, GRPC_CALLS[case])
    assert _grpc_answer(ours_grpc, GRPC_CALLS[case]) == theirs


def _http_answer(
    url: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    req = urllib.request.Request(
        f"http://{url}{path}", data=body, method="GET" if body is None else "POST", headers=headers
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, b"" if path.startswith("/v2/repository/index") else r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


HTTP_CALLS = {
    "load, no key": ("/v2/repository/models/tiny/load", b"{}", {}),
    "unload, wrong value": ("/v2/repository/models/tiny/unload", b"{}", {"admin": "no"}),
    "index, no key": ("/v2/repository/index", b"{}", {}),
    "server metadata, no key": ("/v2", None, {}),
    "load, key": ("/v2/repository/models/tiny/load", b"{}", {"admin": "pw"}),
    "unload, key": ("/v2/repository/models/tiny/unload", b"{}", {"admin": "pw"}),
    "index, key": ("/v2/repository/index", b"{}", {"admin": "pw"}),
    "live (open)": ("/v2/health/live", None, {}),
}


@pytest.mark.parametrize("case", list(HTTP_CALLS))
def test_http_answers_match_triton(pair: tuple[str, str, str, str], case: str) -> None:
    _, triton_http, _, ours_http = pair
    path, body, headers = HTTP_CALLS[case]
    theirs = _http_answer(triton_http, path, body, headers)
    assert _http_answer(ours_http, path, body, headers) == theirs
