"""Yosys synthesis of the generated Verilog, and its column in the estimate."""

from __future__ import annotations

from pathlib import Path

import pytest

import hepinfer
from hepinfer.errors import RtlError
from hepinfer.estimate import Estimate
from hepinfer.rtl.synth import family, parse_stat
from tests.hls.onnx_models import mlp
from tests.rtl.conftest import need


@pytest.mark.parametrize(
    ("part", "fam"),
    [
        ("xcvu13p-flga2577-2-e", "xcup"),
        ("xcu250-figd2104-2L-e", "xcup"),
        ("xczu7ev", "xcup"),
        ("xcku115", "xcu"),
        ("xcku5p", "xcup"),
        ("xc7z020clg400-1", "xc7"),
    ],
)
def test_family(part: str, fam: str) -> None:
    assert family(part) == fam


def test_unknown_family() -> None:
    with pytest.raises(RtlError, match=r"'xc2v1000'.*7 series"):
        family("xc2v1000")


def test_parse_stat() -> None:
    text = "   Number of cells:   10\n     LUT2    3\n     FDRE   5\n     DSP48E2  2\n"
    assert parse_stat(text) == {"LUT2": 3, "FDRE": 5, "DSP48E2": 2}


def test_estimate_gains_a_synthesised_column(tmp_path: Path) -> None:
    need("yosys")
    model = hepinfer.compile(
        mlp(tmp_path / "m.onnx", (6, 8, 4), ("Relu", "")),
        {"Model": {"Precision": {"default": "ap_fixed<12,5>", "weight": "ap_fixed<10,3>"}}},
    )
    est = model.estimate(part="xcvu13p", synthesise=True)
    syn = est.synthesised
    assert syn is not None
    assert syn.lut > 0
    assert syn.ff > 0
    assert syn.dsp > 0  # 10-bit weights with many signed digits go to DSPs
    assert "synthesised (" in est.to_table()
    assert Estimate.from_json(est.to_json()).synthesised == syn
    png = est.plot(tmp_path / "est.png")
    assert png.read_bytes().startswith(b"\x89PNG")
