"""Where hepinfer caches what it compiles (C simulations, the native gRPC front end)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$HEPINFER_CACHE`, or `~/.cache/hepinfer` when it is not set."""
    env = os.environ.get("HEPINFER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "hepinfer"
