"""Finding Xilinx's ap_types headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepinfer.fixed.headers import find_ap_types_headers


def test_xilinx_hls_install_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "ap_fixed.h").write_text("// stand-in\n")
    monkeypatch.setenv("XILINX_HLS", str(tmp_path))
    assert find_ap_types_headers() == tmp_path / "include"


def test_falls_back_to_hls4ml_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XILINX_HLS", str(tmp_path))  # no headers there
    found = find_ap_types_headers()
    if found is not None:
        assert (found / "ap_fixed.h").is_file()
        assert "hls4ml" in str(found)
