"""Model warm-up (config.pbtxt model_warmup) as Triton 2.51 runs it, through real servers.

The python-backend counter model reports how often, on how many rows and on what sum it ran
before the first client request: hepinfer and the Triton peer must report the same (the
samples ran before READY, ``batch_size`` one-row requests ``count`` times, the data file's
values). A failing sample fails the load with Triton's reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.models import scale_model
from tests.serve.sequence_models import (
    COUNTER_PY,
    COUNTER_PY_CONFIG,
    FAILING_PY,
    FAILING_PY_CONFIG,
    accumulator_config,
    accumulator_onnx,
    write_model,
)

SCALE = """
platform: "onnxruntime_onnx"
max_batch_size: 8
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [4] }]
model_warmup [{ name: "%s" batch_size: 4 count: 3
  inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [%d] random_data: true } } }]
"""

SEQ_WARMUP = """
model_warmup [{ name: "seq" batch_size: 2
  inputs { key: "INPUT" value { data_type: TYPE_FP32 dims: [2] zero_data: true } } }]
"""


def _python_repo(root: Path) -> Path:
    data = np.arange(4, dtype=np.float32).tobytes()  # one request reads [0, 1]
    write_model(
        root, "counter", COUNTER_PY_CONFIG, {"1/model.py": COUNTER_PY, "warmup/in.bin": data}
    )
    write_model(root, "failwarm", FAILING_PY_CONFIG, {"1/model.py": FAILING_PY})
    return root


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    root = _python_repo(tmp_path_factory.mktemp("warm") / "repo")
    model = root.parent / "scale.onnx"
    scale_model(model, 2.0)
    write_model(root, "scale_warm", SCALE % ("ok", 4), {"1/model.onnx": model.read_bytes()})
    write_model(root, "scale_bad", SCALE % ("bad", 3), {"1/model.onnx": model.read_bytes()})
    acc = accumulator_onnx(root.parent / "acc.onnx").read_bytes()
    config = accumulator_config("acc_warm", "oldest") + SEQ_WARMUP
    write_model(root, "acc_warm", config, {"1/model.onnx": acc})
    options = ServerOptions(
        [root], grpc_port=0, http_port=None, metrics_port=None, exit_on_error=False
    )
    with InferenceServer(options) as server:
        yield server


def _counter(url: str) -> list[list[float]]:
    client = grpcclient.InferenceServerClient(url)
    inp = grpcclient.InferInput("INPUT", [1, 2], "FP32")
    inp.set_data_from_numpy(np.ones((1, 2), np.float32))
    out = client.infer("counter", [inp]).as_numpy("OUTPUT")
    assert out is not None
    return out.tolist()


def test_warmup_runs_before_ready_like_triton(
    tritonserver_bin: Path, ours: InferenceServer, tmp_path: Path
) -> None:
    from tests.peers_util import TritonPeer, TritonPeerError

    repo = _python_repo(tmp_path / "repo")
    for attempt in range(3):
        # Triton 2.51 itself now and then dies by a signal (-11) while it fails the
        # `failwarm` load; such a start is retried, any other failure is not
        try:
            with TritonPeer(
                repo,
                binary=tritonserver_bin,
                extra_args=("--exit-on-error=false", "--strict-readiness=false"),
            ) as t:
                theirs = _counter(t.grpc_url)
                index = grpcclient.InferenceServerClient(t.grpc_url).get_model_repository_index()
                triton_reason = {m.name: m.reason for m in index.models}["failwarm"]
            break
        except TritonPeerError as exc:
            if "tritonserver exited with -" not in str(exc) or attempt == 2:
                raise
    mine = _counter(ours.grpc_url)
    assert mine == theirs
    calls, rows, total = theirs[0]
    assert calls == rows == 3 * 2 + 2 * 1  # zeros: 3 requests twice; file: 2 requests once
    assert total == 2 * (0.0 + 1.0)
    reason = ours.repository.failures()["failwarm"]
    assert reason.startswith("failed to run warmup sample 'w': ")
    assert "cannot run on warm-up data" in reason
    assert "failed to run warmup sample 'w': " in triton_reason


def test_onnx_warmup(ours: InferenceServer) -> None:
    """An ONNX model warms up and serves; a sample the model cannot run fails the load, and
    a sequence model warms up with its control inputs and initial state.
    """
    client = grpcclient.InferenceServerClient(ours.grpc_url)
    assert client.is_model_ready("scale_warm")
    stats = client.get_inference_statistics("scale_warm").model_stats[0]
    assert stats.inference_count == 0  # warm-up is not a client inference
    assert not client.is_model_ready("scale_bad")
    assert ours.repository.failures()["scale_bad"].startswith("failed to run warmup sample 'bad': ")
    assert client.is_model_ready("acc_warm")
    inp = grpcclient.InferInput("INPUT", [1, 2], "FP32")
    inp.set_data_from_numpy(np.ones((1, 2), np.float32))
    out = client.infer("acc_warm", [inp], sequence_id=1, sequence_start=True).as_numpy("OUTPUT")
    assert out is not None
    assert out.tolist() == [[1.0, 1.0]]


def test_bad_warmup_configs_name_the_sample(tmp_path: Path) -> None:
    from hepinfer.errors import ServeError
    from hepinfer.serve.repository import load_model

    model = tmp_path / "scale.onnx"
    scale_model(model, 2.0)
    bad = SCALE % ("s", 4)
    cases = {
        "unknown": (bad.replace('key: "INPUT0"', 'key: "NOPE"'), "inputs ['NOPE'] are not inputs"),
        "nofile": (
            bad.replace("random_data: true", 'input_data_file: "../../etc/passwd"'),
            "is not a file in",
        ),
        "toobig": (bad.replace("batch_size: 4", "batch_size: 9"), "exceeds max_batch_size 8"),
    }
    for name, (config, words) in cases.items():
        folder = write_model(tmp_path, name, config, {"1/model.onnx": model.read_bytes()})
        with pytest.raises(ServeError, match=re.escape(words)):
            load_model(folder)
