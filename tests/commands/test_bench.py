"""`hepinfer bench`: help, exit codes, errors, the CSV and scan outputs."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("tritonclient.grpc")
pytest.importorskip("onnxruntime")

from hepinfer.cli import main
from hepinfer.serve import InferenceServer
from tests.bench.conftest import bench_repository, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    """A hepinfer server with the bench test models."""
    srv = start_server(bench_repository(tmp_path_factory.mktemp("repo")))
    yield srv
    srv.stop_thread()


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    flags = (
        "--concurrency-range", "--request-rate-range", "--scan", "--event-rate", "--input-data",
        "--shared-memory", "--percentile", "--measurement-mode", "--measurement-request-count",
        "--max-trials", "--engine",
    )  # fmt: skip
    for flag in flags:
        assert flag in out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench"])  # no -m
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["bench", "-m", "x", "--scan", "--concurrency-range", "1"])
    assert exc.value.code == 2


def test_bad_model_exit_1(server: InferenceServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "-m", "nope", "-u", server.grpc_url]) == 1
    err = capsys.readouterr().err
    assert "hepinfer bench: error: server" in err
    assert "has no model 'nope'" in err


def test_unreachable_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "-m", "x", "-u", "127.0.0.1:1", "--timeout", "2"]) == 1
    assert "no server answers at 127.0.0.1:1" in capsys.readouterr().err


def test_bad_range_exit_1(server: InferenceServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "-m", "fast", "-u", server.grpc_url, "--concurrency-range", "4:2"]) == 1
    assert "--concurrency-range '4:2'" in capsys.readouterr().err


def test_concurrency_csv(
    server: InferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pa.csv"
    argv = ["bench", "-m", "fast", "-u", server.grpc_url, "-b", "4", "--concurrency-range", "2"]
    assert main([*argv, "-p", "300", "--max-trials", "3", "-s", "80", "-f", str(out)]) == 0
    with out.open() as f:
        (row,) = csv.DictReader(f)
    assert row["Concurrency"] == "2"
    assert float(row["Inferences/Second"]) > 0
    assert "Concurrency" in capsys.readouterr().out


def test_scan_outputs(
    server: InferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = tmp_path / "sub" / "scan"
    argv = ["bench", "-m", "fast", "-u", server.grpc_url, "--scan", "--quick", "--clients", "1,2"]
    assert main([*argv, "--window", "0.5", "--warmup", "0.2", "-o", str(prefix)]) == 0
    for ext in (".csv", ".png", ".txt"):
        assert prefix.with_suffix(ext).stat().st_size > 0
    assert "failed requests below saturation: 0" in capsys.readouterr().out
