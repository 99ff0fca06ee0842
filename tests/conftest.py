"""Shared fixtures: where the real models/data and the peer tools live, skipping when absent.

- Real models and data: `$HEPINFER_TEST_DATA`, default `<repo>/../shared/data`.
- Peer tools (hls4ml, QKeras, HGQ2, QONNX, Triton, perf_analyzer) in their own virtual environments:
  `$HEPINFER_PEERS`, default `<repo>/peers` (made by `scripts/setup-peers.sh`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """The folder of real models and data (may not exist on a user's fresh clone)."""
    return Path(os.environ.get("HEPINFER_TEST_DATA", REPO.parent / "shared" / "data"))


def peers_dir() -> Path:
    """The folder holding the peers' virtual environments."""
    return Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of `../shared/data`; skips the test when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real models/data not found at {path} (set HEPINFER_TEST_DATA)")
    return path


def _peer(marker: str, *parts: str) -> Path:
    """A peer's file under `peers_dir()`, once `scripts/setup-peers.sh` marked it ready.

    Skips the test when absent; fails it instead when `HEPINFER_REQUIRE_PEERS=1` (as `make test`
    sets after installing the peers), so a broken set-up cannot pass as skipped tests.
    """
    root = peers_dir()
    path = root.joinpath(*parts)
    if not (root / f"READY-{marker}").is_file() or not path.exists():
        reason = (
            f"peer {marker!r} not installed at {path} (no {root / f'READY-{marker}'}): run "
            f"`bash scripts/setup-peers.sh {root}` or set HEPINFER_PEERS"
        )
        if os.environ.get("HEPINFER_REQUIRE_PEERS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def hls4ml_python() -> Path:
    """The python of the hls4ml 1.3.0 venv (run it with `KERAS_BACKEND=torch`)."""
    return _peer("hls4ml", "hls4ml", "bin", "python")


@pytest.fixture(scope="session")
def qkeras_python() -> Path:
    """The python of the QKeras 0.9.0 venv (TensorFlow 2.14.1, Keras 2, hls4ml 1.3.0)."""
    return _peer("qkeras", "qkeras", "bin", "python")


@pytest.fixture(scope="session")
def hgq2_python() -> Path:
    """The python of the hls4ml venv once HGQ2 0.2.0 is added to it (`KERAS_BACKEND=torch`)."""
    return _peer("hgq2", "hls4ml", "bin", "python")


@pytest.fixture(scope="session")
def hgq1_python() -> Path:
    """The python of the qkeras venv once HGQ 0.2.6 (HGQ 1, Keras 2) is added to it."""
    return _peer("hgq1", "qkeras", "bin", "python")


@pytest.fixture(scope="session")
def qonnx_python() -> Path:
    """The python of the hls4ml venv once QONNX 1.0.0 is added to it (hls4ml's ONNX path)."""
    return _peer("qonnx", "hls4ml", "bin", "python")


@pytest.fixture(scope="session")
def brevitas_python() -> Path:
    """The python of the hls4ml venv once Brevitas 0.13.4 is added to it (with QONNX)."""
    return _peer("brevitas", "hls4ml", "bin", "python")


@pytest.fixture(scope="session")
def tritonserver_bin() -> Path:
    """The `tritonserver` 2.51 wrapper (library paths and python backend set up)."""
    return _peer("triton", "bin", "tritonserver")


@pytest.fixture(scope="session")
def perf_analyzer_bin() -> Path:
    """The `perf_analyzer` 2.41 wrapper (CUDA runtime library path set up)."""
    return _peer("pa", "bin", "perf_analyzer")
