"""Reloads lose nothing: requests in flight finish on the old version, a failed reload keeps
the old version serving (issue 17, item 6).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.models import build_repository, scale_model

CLIENTS = 8
RELOADS = 100
CONFIG = {
    "name": "filed",
    "platform": "onnxruntime_onnx",
    "max_batch_size": 8,
    "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
    "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
}


@pytest.fixture(scope="module")
def reload_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    repo = build_repository(tmp_path_factory.mktemp("repo"))
    shutil.rmtree(repo / "broken")  # every model loads: ServerReady is meaningful
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        model_control_mode="explicit",
        load_models=("*",),
    )
    with InferenceServer(options) as srv:
        yield srv


def _client_loop(
    url: str, stop: threading.Event, counts: list[int], errors: list[str], model: str
) -> None:
    client = grpcclient.InferenceServerClient(url)
    x = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    data = np.arange(4, dtype=np.float32).reshape(1, 4)
    x.set_data_from_numpy(data)
    while not stop.is_set():
        try:
            out = client.infer(model, [x]).as_numpy("OUTPUT0")
            np.testing.assert_array_equal(out, 2 * data)
            counts.append(1)
        except (InferenceServerException, AssertionError) as exc:
            errors.append(str(exc))
    client.close()


def test_reloads_under_load_lose_nothing(reload_server: InferenceServer) -> None:
    """100 reloads while 8 clients infer: every request answered, every answer right."""
    model = "scale"  # dynamic batching with a queue delay: requests wait in the queue
    stop = threading.Event()
    counts: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_client_loop, args=(reload_server.grpc_url, stop, counts, errors, model)
        )
        for _ in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    control = grpcclient.InferenceServerClient(reload_server.grpc_url)
    try:
        time.sleep(0.2)
        for _ in range(RELOADS):
            control.load_model(model)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert len(counts) > RELOADS
    assert control.is_model_ready(model)


def test_corrupt_reload_keeps_the_old_model(reload_server: InferenceServer, tmp_path: Path) -> None:
    client = grpcclient.InferenceServerClient(reload_server.grpc_url)
    scale_model(tmp_path / "m.onnx", 2.0)
    good = {"file:1/model.onnx": (tmp_path / "m.onnx").read_bytes()}
    client.load_model("filed", config=json.dumps(CONFIG), files=good)
    x = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    x.set_data_from_numpy(np.ones((1, 4), np.float32))
    np.testing.assert_array_equal(client.infer("filed", [x]).as_numpy("OUTPUT0"), 2.0)
    with pytest.raises(InferenceServerException, match="onnxruntime cannot load"):
        client.load_model(
            "filed", config=json.dumps(CONFIG), files={"file:1/model.onnx": b"corrupt"}
        )
    assert client.is_model_ready("filed")
    assert client.is_server_ready()
    np.testing.assert_array_equal(client.infer("filed", [x]).as_numpy("OUTPUT0"), 2.0)
    index = {m.name: m for m in client.get_model_repository_index().models}
    assert index["filed"].state == "READY"
    client.unload_model("filed")
