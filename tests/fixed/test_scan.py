"""Quantisation statistics and precision scans."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import FixedPointError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.scan import ScanPoint, precision_scan, quantisation_stats


def test_stats_by_hand() -> None:
    x = np.array([[0.5, 10.0], [1.25, -3.0], [-1.0, 100.0], [0.75, 0.0]])
    t = FixedType(8, 4, quant=Quant.TRN, overflow=Overflow.SAT)  # range [-8, 7.9375], step 1/16
    stats = quantisation_stats(x, t)
    assert stats.overflow_rate == 2 / 8  # 10 and 100 saturate
    assert stats.max_abs == 100.0 - 7.9375
    assert stats.rel_rms_per_feature[0] == 0.0  # exact in the first column
    err = np.array([10 - 7.9375, 0, 100 - 7.9375, 0])
    assert stats.rel_rms_per_feature[1] == pytest.approx(np.sqrt(np.mean(err**2)) / x[:, 1].std())
    assert stats.rel_rms == pytest.approx(stats.rel_rms_per_feature[1] / 2)


def test_rounding_beats_truncation_and_per_feature_types() -> None:
    x = np.random.default_rng(0).normal(0, 1, (2000, 3)) * [0.01, 1.0, 50.0]
    trn = quantisation_stats(x, FixedType(12, 7))
    rnd = quantisation_stats(x, FixedType(12, 7, quant=Quant.RND))
    assert rnd.rel_rms < trn.rel_rms
    per_feature = [FixedType(12, -5), FixedType(12, 4), FixedType(12, 9)]
    assert quantisation_stats(x, per_feature).rel_rms < trn.rel_rms


def test_scan_and_errors() -> None:
    x = np.linspace(-3, 3, 100)
    points = [ScanPoint(f"w{w}", w, (FixedType(w, 3),)) for w in (4, 8, 12)]
    seen = []
    results = precision_scan(x, points, progress=lambda p: seen.append(1) or p)  # type: ignore[func-returns-value]
    assert seen == [1]
    assert [r.point.width for r in results] == [4, 8, 12]
    errs = [r.stats.rel_rms for r in results]
    assert errs == sorted(errs, reverse=True)
    with pytest.raises(FixedPointError, match="2 types given for 3 features"):
        quantisation_stats(np.zeros((4, 3)), [FixedType(8, 3)] * 2)
    with pytest.raises(FixedPointError, match="non-empty"):
        quantisation_stats(np.zeros((0, 3)), FixedType(8, 3))
