"""The native gRPC front end: skip where it cannot be built, unless CI requires it."""

from __future__ import annotations

import os

import pytest

from hepinfer.errors import NativeBuildError
from hepinfer.serve.native.build import load_library


def require_native() -> None:
    """Skip the calling test when gRPC C++ is missing; fail instead where peers are required
    (CI installs libgrpc++-dev through scripts/system-deps.sh).
    """
    try:
        load_library()
    except NativeBuildError as exc:
        if os.environ.get("HEPINFER_REQUIRE_PEERS") == "1":
            raise
        pytest.skip(f"native gRPC front end unavailable: {exc}")
