"""Scaling scan against a real server: table, CSV, plot, saturation, no failures."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from hepinfer.bench import (
    ScanOptions,
    ScanPoint,
    ScanResult,
    Target,
    format_scan_table,
    plot_scan,
    scan,
    write_scan_csv,
)
from hepinfer.bench.scan import _shares, parse_clients
from hepinfer.errors import BenchError
from hepinfer.serve import InferenceServer


def test_parse_clients() -> None:
    assert parse_clients("1,4,16") == (1, 4, 16)
    assert parse_clients("1:512") == tuple(2**i for i in range(10))
    assert parse_clients("3:20") == (4, 8, 16)
    for bad in ("", "a", "0,2", "8:4"):
        with pytest.raises(BenchError, match="--clients"):
            parse_clients(bad)


def test_options_checked() -> None:
    with pytest.raises(BenchError, match="event rate"):
        ScanOptions(event_rate=0)
    with pytest.raises(BenchError, match="work fraction"):
        ScanOptions(work_fraction=1.0)
    with pytest.raises(BenchError, match="processes 0"):
        ScanOptions(processes=0)


def test_shares() -> None:
    assert _shares(5, 2) == [3, 2]
    assert _shares(1, 4) == [1]
    assert _shares(8, 4) == [2, 2, 2, 2]


def test_short_scan(server: InferenceServer, tmp_path: Path) -> None:
    # a light load (160 events/s at most) and a lenient threshold, so that a busy 2-core
    # CI machine, whose event loop may start late, still keeps every job's schedule
    options = ScanOptions(
        clients=(1, 4, 16),
        event_rate=10.0,
        warmup_s=0.3,
        window_s=2.0,
        saturation_threshold=0.7,
    )

    async def go() -> ScanResult:
        async with Target(server.grpc_url, "fast") as target:
            return await scan(target, options)

    result = asyncio.run(go())
    assert [p.clients for p in result.points] == [1, 4, 16]
    for p in result.points:
        assert p.failures == 0
        assert p.requests > 0
        # far below saturation: each job keeps its schedule
        assert p.per_job_rate == pytest.approx(10.0, rel=0.3)
        assert p.events_per_s == pytest.approx(10.0 * p.clients, rel=0.3)
        assert 0 < p.p50_us <= p.p90_us <= p.p95_us <= p.p99_us
        assert p.server_inferences_per_s > 0
    assert result.saturation_clients is None
    assert result.failures_below_saturation == 0
    write_scan_csv(result, tmp_path / "scan.csv")
    with (tmp_path / "scan.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["clients"] for r in rows] == ["1", "4", "16"]
    assert float(rows[2]["events_per_s"]) > float(rows[0]["events_per_s"])
    plot_scan(result, tmp_path / "scan.png")
    assert (tmp_path / "scan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = format_scan_table(result)
    assert "not saturated up to 16 jobs" in table
    assert "failed requests below saturation: 0" in table


def test_scan_over_processes(server: InferenceServer) -> None:
    options = ScanOptions(clients=(2, 5), event_rate=10.0, warmup_s=0.3, window_s=2.0, processes=2)

    async def go() -> ScanResult:
        async with Target(server.grpc_url, "fast") as target:
            return await scan(target, options)

    result = asyncio.run(go())
    for p in result.points:
        assert p.failures == 0
        assert p.per_job_rate == pytest.approx(10.0, rel=0.3)
        assert p.events_per_s == pytest.approx(10.0 * p.clients, rel=0.3)
        assert p.server_inferences_per_s == pytest.approx(p.events_per_s, rel=0.3)
        assert 0 < p.p50_us <= p.p99_us


def _point(n: int, rate: float, failures: int = 0) -> ScanPoint:
    return ScanPoint(
        n, 10.0, rate, rate, n * rate, n * rate, 1, 2, 3, 4, 0, 1, n * 10, failures, 0.1
    )


def test_saturation_in_table() -> None:
    pts = (_point(1, 10.0), _point(2, 9.9), _point(4, 8.0, failures=3), _point(8, 5.0))
    result = ScanResult(pts, 4, ScanOptions())
    assert result.failures_below_saturation == 0
    text = format_scan_table(result)
    assert "saturation at 4 jobs" in text
    assert "peak 40.0 events/s with 8 jobs" in text
    assert "in all: 3" in text
