"""Helpers for tests that run the peer tools (see `scripts/setup-peers.sh`).

    from tests.peers_util import TritonPeer, tiny_mlp_onnx, write_model_repository

    def test_x(tritonserver_bin: Path, tmp_path: Path) -> None:
        onnx_path = tiny_mlp_onnx(tmp_path / "tiny.onnx")
        write_model_repository(onnx_path, tmp_path / "repo", "tiny", dynamic_batching=True)
        with TritonPeer(tmp_path / "repo", binary=tritonserver_bin) as server:
            ...  # server.grpc_url, server.http_url ("127.0.0.1:PORT")

The Triton helpers live in `benchmarks/triton_peer.py` (benchmarks use them too); this module
re-exports them for tests and adds small models to serve.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.triton_peer import (
    OnnxSignature,
    TensorSpec,
    TritonPeer,
    TritonPeerError,
    config_pbtxt,
    free_port,
    http_ready,
    onnx_signature,
    write_model_repository,
)
from scripts.peer_checks.tiny_onnx import tiny_mlp

__all__ = [
    "OnnxSignature",
    "TensorSpec",
    "TritonPeer",
    "TritonPeerError",
    "config_pbtxt",
    "free_port",
    "http_ready",
    "onnx_signature",
    "tiny_mlp_onnx",
    "write_model_repository",
]


def tiny_mlp_onnx(path: Path, seed: int = 0, batch: int | str = "batch") -> Path:
    """A 16-8-5 softmax MLP: input `x` [batch,16], output `y` [batch,5] (a named batch is free)."""
    return tiny_mlp(path, seed=seed, batch=batch)
