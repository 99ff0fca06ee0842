"""The RTL tests need Verilator (and Yosys for synthesis); both come with `make test`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Verilator builds go to a temporary cache per module (parallel-safe)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HEPINFER_CACHE", str(tmp_path_factory.mktemp("rtl-cache")))
    yield
    mp.undo()


def need(tool: str) -> None:
    """Skip unless `tool` is installed (fail instead under HEPINFER_REQUIRE_PEERS=1)."""
    import os

    if shutil.which(tool) is None:
        if os.environ.get("HEPINFER_REQUIRE_PEERS") == "1":
            pytest.fail(f"{tool} is not installed (scripts/system-deps.sh installs it)")
        pytest.skip(f"{tool} is not installed")
