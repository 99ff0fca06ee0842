"""The peer tools installed by `scripts/setup-peers.sh` work, and so do the helpers that run them.

The peer tests skip when a peer is not installed (they fail instead under
`HEPINFER_REQUIRE_PEERS=1`, as `make test` sets); the helper tests need no peer.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
from benchmarks.triton_peer import main as triton_peer_main
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tests.peers_util import (
    TritonPeer,
    TritonPeerError,
    config_pbtxt,
    free_port,
    http_ready,
    onnx_signature,
    tiny_mlp_onnx,
    write_model_repository,
)

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ helpers (no peer needed)


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_http_ready_is_false_when_nothing_listens() -> None:
    assert not http_ready(f"http://127.0.0.1:{free_port()}/v2/health/ready", timeout=0.5)


def test_model_repository_config_is_a_valid_triton_model_config(tmp_path: Path) -> None:
    onnx_path = tiny_mlp_onnx(tmp_path / "tiny.onnx")
    folder = write_model_repository(
        onnx_path, tmp_path / "repo", "jets", max_batch_size=64, dynamic_batching=True
    )
    config = text_format.Parse(
        (folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    assert config.name == "jets"
    assert config.backend == "python"
    assert config.max_batch_size == 64
    assert [(t.name, list(t.dims)) for t in config.input] == [("x", [16])]
    assert [(t.name, list(t.dims)) for t in config.output] == [("y", [5])]
    assert config.input[0].data_type == model_config_pb2.TYPE_FP32
    assert config.dynamic_batching.max_queue_delay_microseconds == 100
    assert (folder / "1" / "model.onnx").read_bytes() == onnx_path.read_bytes()
    assert "onnxruntime" in (folder / "1" / "model.py").read_text()


def test_without_dynamic_batching_there_is_no_batcher(tmp_path: Path) -> None:
    signature = onnx_signature(tiny_mlp_onnx(tmp_path / "tiny.onnx"))
    text = config_pbtxt("m", signature)
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert not config.HasField("dynamic_batching")
    assert config.max_batch_size == 1024


def test_fixed_batch_model_is_served_unbatched_and_cannot_batch(tmp_path: Path) -> None:
    signature = onnx_signature(tiny_mlp_onnx(tmp_path / "fixed.onnx", batch=1))
    assert not signature.batched
    assert signature.inputs[0].dims == (1, 16)
    assert "max_batch_size: 0" in config_pbtxt("m", signature)
    with pytest.raises(TritonPeerError, match="fixed first axis"):
        config_pbtxt("m", signature, dynamic_batching=True)


def test_triton_peer_without_binary_says_how_to_install(tmp_path: Path) -> None:
    with (
        pytest.raises(TritonPeerError, match="setup-peers"),
        TritonPeer(tmp_path, binary=tmp_path / "nope"),
    ):
        pass


def test_triton_peer_reports_a_server_that_exits(tmp_path: Path) -> None:
    fake = tmp_path / "tritonserver"
    fake.write_text("#!/bin/sh\necho 'error: bad model repository' >&2\nexit 3\n")
    fake.chmod(0o755)
    with (
        pytest.raises(TritonPeerError, match=r"exited with 3(.|\n)*bad model repository"),
        TritonPeer(tmp_path, binary=fake),
    ):
        pass


def test_generator_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx_path = tiny_mlp_onnx(tmp_path / "tiny.onnx")
    argv = [str(onnx_path), "-o", str(tmp_path / "repo"), "--name", "jets", "--dynamic-batching"]
    assert triton_peer_main(argv) == 0
    assert "dynamic_batching" in (tmp_path / "repo" / "jets" / "config.pbtxt").read_text()
    fixed = tiny_mlp_onnx(tmp_path / "fixed.onnx", batch=1)
    argv = [str(fixed), "-o", str(tmp_path / "repo"), "--dynamic-batching"]
    assert triton_peer_main(argv) == 1
    assert "fixed first axis" in capsys.readouterr().err


# ------------------------------------------------------------------ the peers themselves


@pytest.mark.slow
@pytest.mark.oracle
def test_hls4ml_compiles_and_predicts_like_keras(hls4ml_python: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(hls4ml_python), str(REPO / "scripts/peer_checks/check_hls4ml.py"), str(tmp_path)],
        env={**os.environ, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"max \|hls4ml - keras\| = ([0-9.e+-]+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) <= 0.05
    assert (tmp_path / "hls4ml_prj" / "firmware" / "myproject.cpp").is_file()


@pytest.mark.slow
@pytest.mark.oracle
def test_qkeras_peer_converts_with_hls4ml_exactly(qkeras_python: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(qkeras_python), str(REPO / "scripts/peer_checks/check_qkeras.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"max \|hls4ml - qkeras\| = ([0-9.e+-]+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) == 0.0
    assert (tmp_path / "model.json").is_file()
    assert (tmp_path / "model_weights.h5").is_file()


@pytest.fixture(scope="module")
def triton(
    tritonserver_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonPeer]:
    """Triton serving the tiny MLP three ways: unbatched, dynamic batching, batches of 8."""
    root = tmp_path_factory.mktemp("triton")
    onnx_path = tiny_mlp_onnx(root / "tiny.onnx")
    repo = root / "repo"
    write_model_repository(onnx_path, repo, "tiny")
    write_model_repository(onnx_path, repo, "tiny_dyn", dynamic_batching=True)
    write_model_repository(
        onnx_path, repo, "tiny_b8", max_batch_size=8, dynamic_batching=True,
        max_queue_delay_us=2_000_000,
    )  # fmt: skip
    with TritonPeer(repo, binary=tritonserver_bin) as server:
        yield server


@pytest.mark.oracle
def test_tritonserver_answers_like_onnxruntime(triton: TritonPeer) -> None:
    session = ort.InferenceSession(str(triton.repository / "tiny" / "1" / "model.onnx"))
    x = np.random.default_rng(3).normal(size=(5, 16)).astype(np.float32)
    expected = session.run(["y"], {"x": x})[0]
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    assert client.is_server_ready()
    assert client.get_server_metadata().version == "2.51.0"
    for model in ("tiny", "tiny_dyn"):
        tensor = grpcclient.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        np.testing.assert_allclose(client.infer(model, [tensor]).as_numpy("y"), expected, atol=1e-6)
    client.close()


@pytest.mark.oracle
def test_dynamic_batcher_runs_concurrent_requests_in_one_session_call(triton: TritonPeer) -> None:
    session = ort.InferenceSession(str(triton.repository / "tiny" / "1" / "model.onnx"))
    rng = np.random.default_rng(4)
    inputs = [rng.normal(size=(1, 16)).astype(np.float32) for _ in range(8)]
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    results: dict[int, np.ndarray] = {}
    errors: list[Exception] = []

    def callback(
        index: int, result: grpcclient.InferResult | None, error: Exception | None
    ) -> None:
        if error is not None:
            errors.append(error)
        elif result is not None:
            results[index] = result.as_numpy("y")

    for index, x in enumerate(inputs):
        tensor = grpcclient.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        client.async_infer("tiny_b8", [tensor], functools.partial(callback, index))
    deadline = time.monotonic() + 30
    while len(results) + len(errors) < len(inputs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not errors
    for index, x in enumerate(inputs):
        np.testing.assert_allclose(results[index], session.run(["y"], {"x": x})[0], atol=1e-6)
    stats = client.get_inference_statistics("tiny_b8").model_stats[0]
    client.close()
    assert stats.inference_count == 8
    assert stats.execution_count < 8  # requests were merged into batches by Triton


@pytest.mark.oracle
def test_perf_analyzer_measures_the_triton_peer(
    triton: TritonPeer, perf_analyzer_bin: Path, tmp_path: Path
) -> None:
    out = tmp_path / "perf.csv"
    command = [
        str(perf_analyzer_bin), "-m", "tiny", "-u", triton.grpc_url, "-i", "grpc", "-b", "1",
        "--concurrency-range", "2:2", "-p", "500", "--max-trials", "10", "-s", "100",
        "-f", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == 1
    assert rows[0]["Concurrency"] == "2"
    assert float(rows[0]["Inferences/Second"]) > 0
    assert 0 < float(rows[0]["p50 latency"]) <= float(rows[0]["p99 latency"])
