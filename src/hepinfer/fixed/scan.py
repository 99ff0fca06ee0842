"""Quantisation error and overflow statistics of casting data to fixed-point types.

`quantisation_stats` casts every column (feature) of a 2-D array to its type and measures
what the cast did: the error relative to each feature's spread, the largest absolute error and
how often a value overflowed (its quantised value did not fit the type). `precision_scan` does
that over many candidate precisions, the basis of choosing types for a model's inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FixedPointError
from hepinfer.fixed.modes import Overflow
from hepinfer.fixed.types import FixedType


@dataclass(frozen=True)
class QuantStats:
    """What casting an (n, features) array to fixed point did to it."""

    rel_rms: float  #: mean over features of RMS(error) / std(feature)
    max_abs: float  #: largest absolute error over all values
    overflow_rate: float  #: fraction of values whose quantised value did not fit the type
    rel_rms_per_feature: tuple[float, ...]


def _ideal(t: FixedType) -> FixedType:
    """The same resolution and rounding with enough integer bits that nothing overflows."""
    return FixedType(53, 53 - t.frac, True, t.quant, Overflow.SAT)


def quantisation_stats(x: npt.ArrayLike, types: FixedType | Sequence[FixedType]) -> QuantStats:
    """Cast each column of x (n samples x f features) to its type and measure the damage.

    Args:
        x: finite data, 2-D (a 1-D array counts as one feature).
        types: one type for every feature, or one per feature.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        msg = (
            f"quantisation_stats needs a non-empty (samples, features) array, got shape {arr.shape}"
        )
        raise FixedPointError(msg)
    n_features = arr.shape[1]
    per_feature = [types] * n_features if isinstance(types, FixedType) else list(types)
    if len(per_feature) != n_features:
        msg = f"{len(per_feature)} types given for {n_features} features; give one per feature"
        raise FixedPointError(msg)
    rel, max_abs, overflows = [], 0.0, 0
    for column, t in zip(arr.T, per_feature, strict=True):
        q = t.cast(column)
        err = q - column
        spread = float(column.std()) or 1.0
        rel.append(float(np.sqrt(np.mean(err * err))) / spread)
        max_abs = max(max_abs, float(np.abs(err).max()))
        overflows += int(np.count_nonzero(q != _ideal(t).cast(column)))
    return QuantStats(
        rel_rms=float(np.mean(rel)),
        max_abs=max_abs,
        overflow_rate=overflows / arr.size,
        rel_rms_per_feature=tuple(rel),
    )


@dataclass(frozen=True)
class ScanPoint:
    """One precision of a scan: a label, the width and the types per feature."""

    label: str
    width: int
    types: tuple[FixedType, ...]


@dataclass(frozen=True)
class ScanResult:
    point: ScanPoint
    stats: QuantStats


def precision_scan(
    x: npt.ArrayLike,
    points: Iterable[ScanPoint],
    progress: Callable[[Iterable[ScanPoint]], Iterable[ScanPoint]] | None = None,
) -> list[ScanResult]:
    """`quantisation_stats` for every scan point (optionally wrapped in a progress bar)."""
    arr = np.asarray(x, dtype=np.float64)
    todo = progress(points) if progress is not None else points
    return [ScanResult(p, quantisation_stats(arr, p.types)) for p in todo]
