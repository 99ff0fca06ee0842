"""perf_analyzer modes against a real server: concurrency, request rate, CSV columns."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Sequence
from pathlib import Path

import pytest

from hepinfer.bench import (
    CSV_COLUMNS,
    LoadOptions,
    Measurement,
    Target,
    concurrency_sweep,
    parse_range,
    rate_sweep,
    write_csv,
)
from hepinfer.errors import BenchError
from hepinfer.serve import InferenceServer

#: perf_analyzer 2.41's header (`perf_analyzer --concurrency-range 1:2 -f out.csv`)
PA_HEADER = (
    "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
    "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
    "p50 latency,p90 latency,p95 latency,p99 latency"
)


def test_parse_range() -> None:
    assert parse_range("4", "x") == [4]
    assert parse_range("1:4", "x") == [1, 2, 3, 4]
    assert parse_range("2:8:3", "x") == [2, 5, 8]
    assert parse_range("0.5:1.5:0.5", "x") == [0.5, 1.0, 1.5]
    for bad in ("", "a", "4:2", "0:2", "1:2:0", "1:2:3:4"):
        with pytest.raises(BenchError, match="x"):
            parse_range(bad, "x")


def test_load_options_checked() -> None:
    with pytest.raises(BenchError, match="distribution 'gauss'"):
        LoadOptions(distribution="gauss")
    with pytest.raises(BenchError, match="max trials 0"):
        LoadOptions(max_trials=0)


FAST = LoadOptions(measurement_interval_s=0.4, max_trials=4, stability_percentage=50)


def _run(url: str, sweep: str, values: Sequence[float], options: LoadOptions) -> list[Measurement]:
    async def go() -> list[Measurement]:
        async with Target(url, "fast", batch_size=2) as target:
            if sweep == "concurrency":
                return await concurrency_sweep(target, values, options)
            return await rate_sweep(target, values, options)

    return asyncio.run(go())


def test_concurrency_mode_csv(server: InferenceServer, tmp_path: Path) -> None:
    results = _run(server.grpc_url, "concurrency", [1, 8], FAST)
    for m, level in zip(results, (1, 8), strict=True):
        assert m.setting == level
        assert m.failures == 0
        assert m.requests > 0
        assert 3 <= m.trials <= 4
        assert m.inferences_per_s == pytest.approx(2 * m.requests_per_s)
        assert 0 < m.p50_us <= m.p90_us <= m.p95_us <= m.p99_us
        assert m.server_compute_infer_us > 0
        assert m.server_inferences_per_s > 0
        assert m.client_send_us > 0
        assert m.client_recv_us > 0
    path = tmp_path / "out.csv"
    write_csv(results, path)
    lines = path.read_text().splitlines()
    assert lines[0] == PA_HEADER
    rows = list(csv.DictReader(lines))
    assert [r["Concurrency"] for r in rows] == ["1", "8"]
    for r in rows:
        assert float(r["Inferences/Second"]) > 0
        pcts = [int(r[f"p{q} latency"]) for q in (50, 90, 95, 99)]
        assert pcts == sorted(pcts)
        assert pcts[0] > 0
        assert all(int(r[c]) >= 0 for c in CSV_COLUMNS[1:])


@pytest.mark.parametrize("distribution", ["constant", "poisson"])
def test_request_rate_mode_hits_rate(server: InferenceServer, distribution: str) -> None:
    options = LoadOptions(
        measurement_interval_s=0.5,
        max_trials=3,
        stability_percentage=100,
        distribution=distribution,
    )
    (m,) = _run(server.grpc_url, "rate", [100.0], options)
    assert m.mode == "request_rate"
    assert m.failures == 0
    assert 60 <= m.requests_per_s <= 140
    assert m.inferences_per_s == pytest.approx(2 * m.requests_per_s)


def test_request_rate_csv_header(server: InferenceServer, tmp_path: Path) -> None:
    options = LoadOptions(measurement_interval_s=0.2, max_trials=1)
    results = _run(server.grpc_url, "rate", [50.0], options)
    assert not results[0].stable  # one window can never be stable
    write_csv(results, tmp_path / "r.csv")
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header == PA_HEADER.replace("Concurrency", "Request Rate")
