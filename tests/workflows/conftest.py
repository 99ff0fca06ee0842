"""Fixtures: the shared ParticleNet model and PFNano events, direct scores, a server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("uproot")
pytest.importorskip("onnxruntime")

from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.workflows.particlenet import JetScores, direct_model, run_direct
from hepinfer.workflows.pfnano import read_events


@pytest.fixture(scope="module")
def pn(shared_data: Path) -> tuple[Path, Path]:
    """(sonic-models repository, pfnano.root); skips when absent."""
    repo = shared_data / "triton-repos" / "sonic-models"
    events = shared_data / "events" / "pfnano.root"
    if not (repo / "particlenet_AK4" / "1" / "model.onnx").is_file() or not events.is_file():
        pytest.skip("particlenet_AK4 or pfnano.root missing from the shared data")
    return repo, events


@pytest.fixture(scope="module")
def direct(pn: tuple[Path, Path]) -> JetScores:
    """Scores of every jet with onnxruntime in-process."""
    repo, events = pn
    return run_direct(read_events(events), direct_model(repo / "particlenet_AK4/1/model.onnx"))


@pytest.fixture(scope="module")
def pn_server(pn: tuple[Path, Path]) -> Iterator[InferenceServer]:
    """Hepinfer serving the sonic-models repository unchanged."""
    repo, _ = pn
    # deepmet needs the optional tensorflow: the others are served without it
    options = ServerOptions(
        [repo], grpc_port=0, http_port=None, metrics_port=None, exit_on_error=False
    )
    with InferenceServer(options) as srv:
        yield srv
