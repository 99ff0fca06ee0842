"""Server options shared by the attack tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepinfer.serve import ServerOptions


def options_for(repo: Path, **overrides: Any) -> ServerOptions:
    """GRPC and HTTP on free 127.0.0.1 ports, no metrics, and start-up that tolerates the
    test repository's deliberately broken model; `overrides` set the rest.
    """
    settings: dict[str, Any] = {
        "grpc_port": 0,
        "http_port": 0,
        "metrics_port": None,
        "exit_on_error": False,
    }
    settings.update(overrides)
    return ServerOptions([repo], **settings)
