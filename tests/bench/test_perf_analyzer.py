"""`hepinfer bench` and perf_analyzer 2.41 on the same server: same CSV, comparable figures."""

from __future__ import annotations

import asyncio
import csv
import subprocess
from pathlib import Path

import pytest

from hepinfer.bench import LoadOptions, Target, concurrency_sweep, write_csv
from hepinfer.serve import InferenceServer


@pytest.mark.slow
@pytest.mark.oracle
def test_same_csv_as_perf_analyzer(
    perf_analyzer_bin: Path, server: InferenceServer, tmp_path: Path
) -> None:
    theirs = tmp_path / "pa.csv"
    command = [
        str(perf_analyzer_bin), "-m", "fast", "-u", server.grpc_url, "-i", "grpc", "-b", "2",
        "--concurrency-range", "1:2", "-p", "400", "--max-trials", "10", "-s", "100",
        "-f", str(theirs),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

    async def ours() -> None:
        async with Target(server.grpc_url, "fast", batch_size=2) as target:
            options = LoadOptions(measurement_interval_s=0.4, max_trials=5, stability_percentage=80)
            write_csv(await concurrency_sweep(target, [1, 2], options), tmp_path / "hb.csv")

    asyncio.run(ours())
    with theirs.open() as f:
        pa_rows = list(csv.reader(f))
    with (tmp_path / "hb.csv").open() as f:
        hb_rows = list(csv.reader(f))
    assert hb_rows[0] == pa_rows[0]  # the same header, column for column
    for rows in (pa_rows, hb_rows):  # both sort their rows by increasing infer/s
        assert [float(r[1]) for r in rows[1:]] == sorted(float(r[1]) for r in rows[1:])
    pa_rows[1:] = sorted(pa_rows[1:], key=lambda r: int(r[0]))
    hb_rows[1:] = sorted(hb_rows[1:], key=lambda r: int(r[0]))
    assert [r[0] for r in hb_rows[1:]] == [r[0] for r in pa_rows[1:]] == ["1", "2"]
    for pa, hb in zip(pa_rows[1:], hb_rows[1:], strict=True):
        # same order of magnitude on the same server (the machine is shared and noisy)
        assert 0.2 < float(hb[1]) / float(pa[1]) < 5
        assert 0.2 < float(hb[9]) / max(float(pa[9]), 1.0) < 5  # p50 latency
