"""The same python-backend repository on hepinfer and on Triton 2.51: same answers.

Skips without the Triton peer; fails under ``HEPINFER_REQUIRE_PEERS=1`` (see tests/conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from tests.peers_util import TritonPeer
from tests.serve.backends.pb_models import write_all_apis_repository, write_python_model
from tests.serve.backends.test_python import INSPECT, INSPECT_CONFIG


@pytest.fixture(scope="module")
def both(
    tritonserver_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[grpcclient.InferenceServerClient, grpcclient.InferenceServerClient]]:
    """Clients of hepinfer and of Triton, serving one repository folder unchanged."""
    repo = write_all_apis_repository(tmp_path_factory.mktemp("pbpeer") / "repo")
    write_python_model(repo, "inspect", INSPECT, INSPECT_CONFIG.replace("count: 2", "count: 1"))
    options = ServerOptions([repo], grpc_port=0, http_port=0, metrics_port=0)
    with TritonPeer(repo, binary=tritonserver_bin) as triton, InferenceServer(options) as ours:
        yield (
            grpcclient.InferenceServerClient(f"127.0.0.1:{ours.grpc_port}"),
            grpcclient.InferenceServerClient(triton.grpc_url),
        )


def _infer(
    client: grpcclient.InferenceServerClient, model: str, x: np.ndarray, **kw: object
) -> grpcclient.InferResult:
    inp = grpcclient.InferInput("INPUT0", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return client.infer(model, [inp], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_all_apis_model_answers_like_triton(
    both: tuple[grpcclient.InferenceServerClient, grpcclient.InferenceServerClient], batch: int
) -> None:
    ours, triton = both
    x = np.random.default_rng(batch).normal(size=(batch, 4)).astype(np.float32) * 10
    a = _infer(ours, "pb_all", x)
    b = _infer(triton, "pb_all", x)
    for name in ("OUTPUT0", "OUTPUT1", "OUTPUT2"):
        got, want = a.as_numpy(name), b.as_numpy(name)
        assert got is not None
        assert want is not None
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_error_response_like_triton(
    both: tuple[grpcclient.InferenceServerClient, grpcclient.InferenceServerClient],
) -> None:
    x = np.full((2, 4), -2000.0, np.float32)
    messages = []
    for client in both:
        with pytest.raises(InferenceServerException) as info:
            _infer(client, "pb_all", x)
        messages.append(info.value.message())
    assert messages[0] == messages[1]


def test_auto_completed_config_like_triton(
    both: tuple[grpcclient.InferenceServerClient, grpcclient.InferenceServerClient],
) -> None:
    ours, triton = (c.get_model_config("pb_all").config for c in both)
    assert ours.max_batch_size == triton.max_batch_size
    assert ours.HasField("dynamic_batching") == triton.HasField("dynamic_batching")
    for kind in ("input", "output"):
        mine = [(t.name, t.data_type, list(t.dims)) for t in getattr(ours, kind)]
        theirs = [(t.name, t.data_type, list(t.dims)) for t in getattr(triton, kind)]
        assert mine == theirs


def test_initialize_args_like_triton(
    both: tuple[grpcclient.InferenceServerClient, grpcclient.InferenceServerClient],
) -> None:
    x = np.arange(4, dtype=np.float32)
    infos = [json.loads(_infer(c, "inspect", x, request_id="q7").as_numpy("INFO")[0]) for c in both]
    ours, triton = infos
    assert set(ours["args"]) == set(triton["args"])
    for key in ("model_name", "model_version", "model_instance_kind", "model_instance_device_id"):
        assert ours["args"][key] == triton["args"][key]
    assert (
        Path(ours["args"]["model_repository"]).name == Path(triton["args"]["model_repository"]).name
    )
    assert ours["outputs"] == triton["outputs"]
    assert ours["request_id"] == triton["request_id"] == "q7"
    config_ours = json.loads(ours["args"]["model_config"])
    config_triton = json.loads(triton["args"]["model_config"])
    for key in ("name", "backend", "max_batch_size", "parameters"):
        assert config_ours[key] == config_triton[key]
    for kind in ("input", "output"):
        assert [(t["name"], t["data_type"], t["dims"]) for t in config_ours[kind]] == [
            (t["name"], t["data_type"], t["dims"]) for t in config_triton[kind]
        ]
