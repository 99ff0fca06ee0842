"""perf_analyzer (Triton's load generator, unchanged) against hepinfer's server.

Concurrency mode over gRPC, with server-side statistics (perf_analyzer reads ModelStatistics
before and after each window and splits the latency into queue and compute parts).
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from hepinfer.serve import InferenceServer


@pytest.mark.slow
@pytest.mark.oracle
def test_perf_analyzer_concurrency_mode(
    perf_analyzer_bin: Path, server: InferenceServer, tmp_path: Path
) -> None:
    out = tmp_path / "pa.csv"
    result = subprocess.run(
        [
            str(perf_analyzer_bin),
            "-m",
            "scale",
            "-u",
            server.grpc_url,
            "-i",
            "grpc",
            "-b",
            "1",
            "--concurrency-range",
            "1:2",
            "-p",
            "500",
            "--max-trials",
            "10",
            "-s",
            "100",  # stability is not what this test checks (the machine may be busy)
            "-f",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert "Server:" in text
    assert "Inference count:" in text
    assert "queue" in text
    assert "compute infer" in text
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["Concurrency"]) for r in rows) == [1, 2]  # sorted by infer/s
    for row in rows:
        assert float(row["Inferences/Second"]) > 0
        assert int(row["Server Queue"]) >= 0
        assert int(row["Server Compute Infer"]) > 0
