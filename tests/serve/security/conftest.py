"""Fixtures for the attack tests: a private repository and server per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hepinfer.serve import InferenceServer
from tests.serve.models import build_repository
from tests.serve.security.servers import options_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    """A server over its own repository (attacks must not disturb other modules' servers)."""
    repo = build_repository(tmp_path_factory.mktemp("repo"))
    # the attacks load and unload models
    options = options_for(repo, model_control_mode="explicit", load_models=("*",))
    with InferenceServer(options) as srv:
        yield srv


@pytest.fixture(scope="module")
def repo_path(server: InferenceServer) -> Path:
    """The served repository folder."""
    return Path(server.options.repositories[0])
