"""The client against NVIDIA Triton 2.51 (the peer): same answers as onnxruntime in-process."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from hepinfer.client import ClientOptions, Mode, SonicClient

ort = pytest.importorskip("onnxruntime")


@pytest.mark.oracle
@pytest.mark.slow
def test_client_against_triton(tritonserver_bin: Path, tmp_path: Path) -> None:
    from tests.peers_util import TritonPeer, tiny_mlp_onnx, write_model_repository

    onnx_path = tiny_mlp_onnx(tmp_path / "tiny.onnx")
    write_model_repository(
        onnx_path, tmp_path / "repo", "tiny", max_batch_size=16, dynamic_batching=True
    )
    session = ort.InferenceSession(str(onnx_path))
    rng = np.random.default_rng(1)
    events = [rng.normal(size=(n, 16)).astype(np.float32) for n in (1, 3, 16, 40, 0)]
    with TritonPeer(tmp_path / "repo", binary=tritonserver_bin) as server:
        variants = [(m, False, False) for m in Mode]
        variants += [(Mode.ASYNC, True, False), (Mode.SYNC, False, True)]
        for mode, streaming, shm in variants:
            opts = ClientOptions(
                "tiny",
                servers=(server.grpc_url,),
                mode=mode,
                compression="gzip",
                streaming=streaming,
                use_shared_memory=shm,
            )
            with SonicClient(opts) as client:
                assert client.model.max_batch_size == 16
                handles = [client.acquire({"x": x}) for x in events]
                for x, handle in zip(events, handles, strict=True):
                    y = client.produce(handle)["y"]
                    assert y.shape == (x.shape[0], 5)
                    if x.shape[0]:
                        np.testing.assert_allclose(y, session.run(None, {"x": x})[0], atol=1e-6)
                ragged = client.produce(client.acquire_ragged([{"x": x[0]} for x in events[:3]]))
                for x, out in zip(events, ragged, strict=False):
                    np.testing.assert_allclose(
                        out["y"], session.run(None, {"x": x[:1]})[0][0], atol=1e-6
                    )
                # 1 + 1 + 1 + 3 (40 objects at max 16) + 0 (empty event) + 3 ragged
                assert client.stats().requests == 9
                # Triton records a request's statistics just after answering it
                deadline = time.monotonic() + 5
                while client.server_statistics()[server.grpc_url].success_count < 9:
                    assert time.monotonic() < deadline, "ModelStatistics missed requests"
                    time.sleep(0.05)
                if shm:  # Triton accepted the regions (a refusal turns shared memory off)
                    conn = client.pool.connections[0]
                    assert conn.shm_possible
                    assert conn.shm_pool(1.0) is not None
