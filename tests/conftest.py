"""Shared fixtures: where the real models/data and the peer tools live, skipping when absent.

- Real models and data: `$HEPINFER_TEST_DATA`, default `<repo>/../shared/data`.
- Peer tools (hls4ml, Triton, perf_analyzer) in their own virtual environments:
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
