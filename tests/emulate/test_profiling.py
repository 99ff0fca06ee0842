"""Numerical profiling: ranges against types, overflow/underflow flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import hepinfer
from hepinfer.emulate.profiling import format_table, profile


def test_profile_flags_overflow_and_underflow(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json"
    x = np.random.default_rng(0).standard_normal((500, 16))
    narrow = hepinfer.compile(path, {"Model": {"Precision": "ap_fixed<8,3>"}})
    rows = profile(narrow.graph, x)
    by = {(r.node, r.kind): r for r in rows}
    assert by[("fc1_relu", "activation")].status == "OVERFLOW"  # |values| ~ 19 > 4
    assert by[("fc1_relu", "weight")].type is not None
    wide = hepinfer.compile(path, {"Model": {"Precision": "ap_fixed<32,16>"}})
    assert all(r.status in ("ok", "UNDERFLOW") for r in profile(wide.graph, x))
    tiny = hepinfer.compile(
        path, {"LayerName": {"input_1": {"Precision": {"result": "ap_fixed<16,16>"}}}}
    )
    assert {r.status for r in profile(tiny.graph, x * 1e-3) if r.node == "input_1"} == {"UNDERFLOW"}
    text = narrow.profile(x, png=tmp_path / "p.png")
    assert text.splitlines()[0].split()[:3] == ["node", "tensor", "min"]
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert format_table(rows).count("\n") == len(rows) + 1
