"""Version policies and model states of the repository."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import (
    ModelNotFoundError,
    ModelUnavailableError,
    ModelVersionNotFoundError,
    ServeError,
)
from hepinfer.serve.config import parse_config
from hepinfer.serve.repository import ModelRepository, select_versions


def _policy(text: str) -> mc.ModelConfig:
    return parse_config(f'name: "m" {text}', "test")


@pytest.mark.parametrize(
    ("policy", "want"),
    [
        ("", [5]),
        ("version_policy { latest { num_versions: 2 } }", [5, 3]),
        ("version_policy { all {} }", [5, 3, 1]),
        ("version_policy { specific { versions: [1, 3] } }", [3, 1]),
    ],
)
def test_select_versions(policy: str, want: list[int]) -> None:
    assert select_versions(_policy(policy), [1, 3, 5]) == want


def test_specific_version_must_exist() -> None:
    with pytest.raises(ServeError, match=r"versions \[4\] which have no folder"):
        select_versions(_policy("version_policy { specific { versions: [4] } }"), [1, 3])


def test_lookup_errors(model_repo: Path) -> None:
    async def main() -> None:
        repo = ModelRepository([model_repo])
        await repo.load_all()
        try:
            assert repo.get("versioned").version == 3
            assert repo.get("versioned", "2").version == 2
            with pytest.raises(ModelVersionNotFoundError, match="version 1 is not found"):
                repo.get("versioned", "1")
            with pytest.raises(ModelNotFoundError, match="'nope' is not found"):
                repo.get("nope")
            with pytest.raises(ModelUnavailableError, match="'broken' has no available versions"):
                repo.get("broken")
            await repo.unload("scale")
            assert not repo.ready("scale")
            assert [e.state for e in repo.index() if e.name == "scale"] == ["UNAVAILABLE"]
            await repo.load("scale")
            assert repo.ready("scale", "1")
            assert [e.name for e in repo.index(ready_only=True)].count("versioned") == 2
        finally:
            await repo.close()

    asyncio.run(main())
