"""Find Xilinx's own `ap_types` C++ headers (`ap_fixed.h`, `ap_int.h`), the reference for
hepinfer's fixed-point semantics and what generated HLS code must compile against.

Looked up, in order: `$XILINX_HLS/include` (a Vitis HLS installation), then the copy vendored
in the `hls4ml` wheel (`hls4ml/templates/vivado/ap_types`; found without importing hls4ml).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

HLS4ML_SUBDIR = Path("templates") / "vivado" / "ap_types"


def find_ap_types_headers() -> Path | None:
    """The folder holding `ap_fixed.h`, or None when no copy of the headers is found."""
    candidates: list[Path] = []
    if xilinx := os.environ.get("XILINX_HLS"):
        candidates.append(Path(xilinx) / "include")
    spec = importlib.util.find_spec("hls4ml")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / HLS4ML_SUBDIR for p in spec.submodule_search_locations]
    for folder in candidates:
        if (folder / "ap_fixed.h").is_file():
            return folder
    return None
