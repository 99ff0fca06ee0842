"""The demo report's saturation point."""

from __future__ import annotations

from hepinfer.bench.scan import ScanOptions, ScanPoint, ScanResult
from hepinfer.demo.report import sustained_saturation


def _result(rates: list[float]) -> ScanResult:
    options = ScanOptions(clients=tuple(2**i for i in range(len(rates))), event_rate=50.0)
    points = tuple(
        ScanPoint(n, 50.0, r, r, n * r, n * r, 1, 1, 1, 1, 0, 0, 100, 0, 0.1)
        for n, r in zip(options.clients, rates, strict=True)
    )
    first = next((p.clients for p in points if p.efficiency < 0.95), None)
    return ScanResult(points, first, options)


def test_a_single_slow_point_is_not_saturation() -> None:
    result = _result([10.0, 50.0, 49.9, 40.0, 20.0])
    assert result.saturation_clients == 1
    assert sustained_saturation(result) == 8


def test_no_saturation_when_the_last_point_keeps_up() -> None:
    assert sustained_saturation(_result([50.0, 40.0, 49.0])) is None
    assert sustained_saturation(_result([50.0, 49.0])) is None
    assert sustained_saturation(_result([20.0, 10.0])) == 1
