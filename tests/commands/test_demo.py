"""`hepinfer demo --quick`: end to end, and the generated jet-like data."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

from hepinfer.commands.demo import FEATURES, jet_like_features
from hepinfer.fixed import FixedType


def test_demo_quick_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "hepinfer", "demo", "--quick", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "| precision / mode | W=6 |" in done.stdout
    assert f"written to {out}/" in done.stdout
    report = (out / "report.md").read_text()
    assert report.startswith("# hepinfer demo: fixed-point precision scan")
    assert "![error and overflow vs width](quantisation_error.png)" in report
    assert "- per-feature I (fit_type) RND/SAT: W=" in report
    png = (out / "quantisation_error.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000
    with (out / "scan.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 * (2 * 4 + 1)  # widths x (integer bits x modes + per-feature)
    for row in rows:  # every type written is a valid type string of the row's width
        for text in row["types"].split(";"):
            assert FixedType.parse(text).width == int(row["width"])
    by = {(r["precision"], int(r["width"])): r for r in rows}
    for w in (6, 10, 14, 18, 22):
        auto = float(by["per-feature I (fit_type) RND/SAT", w]["rel_rms"])
        assert float(by["per-feature I (fit_type) RND/SAT", w]["overflow_rate"]) == 0.0
        assert auto < float(by["ap_fixed<W,10> RND/SAT", w]["rel_rms"])
        # mass and multiplicity do not fit in 6 integer bits
        assert float(by["ap_fixed<W,6> TRN/WRAP", w]["overflow_rate"]) > 0.05
        # more bits never hurt with a fixed number of integer bits and saturation
    errs = [float(by["ap_fixed<W,10> RND/SAT", w]["rel_rms"]) for w in (6, 10, 14, 18, 22)]
    assert errs == sorted(errs, reverse=True)


def test_jet_like_features() -> None:
    x = jet_like_features(5000, np.random.default_rng(1))
    assert x.shape == (5000, len(FEATURES))
    assert np.isfinite(x).all()
    col = dict(zip(FEATURES, x.T, strict=True))
    assert (col["zlogz"] <= 0).all()
    assert (col["c1_b0_mmdt"] >= 0).all()
    assert (col["c1_b0_mmdt"] < 1).all()
    assert np.array_equal(col["multiplicity"], np.round(col["multiplicity"]))
    mass = col["mass_mmdt"]  # W/Z and top peaks
    assert np.count_nonzero((mass > 70) & (mass < 100)) > 1000
    assert np.count_nonzero((mass > 150) & (mass < 200)) > 500
