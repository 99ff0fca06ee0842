"""perf_analyzer's flags on `hepinfer bench`, against a real server with HTTP and shared memory:
-i http|grpc, --percentile, --input-data, --shared-memory, --measurement-mode, live lines.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from hepinfer.bench import LoadOptions, Target, concurrency_sweep
from hepinfer.cli import main
from hepinfer.errors import BenchError
from hepinfer.serve import InferenceServer
from tests.bench.conftest import bench_repository, start_server

FAST = ["-p", "250", "-r", "4", "-s", "90"]


@pytest.fixture(scope="module")
def full_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    """A server with gRPC, HTTP and system shared memory enabled."""
    srv = start_server(bench_repository(tmp_path_factory.mktemp("repo")), http=True, shm=True)
    yield srv
    srv.stop_thread()


def _success_count(url: str) -> int:
    with grpc.insecure_channel(url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        stats = stub.ModelStatistics(pb.ModelStatisticsRequest(name="fast"), timeout=10)
    return sum(s.inference_stats.success.count for s in stats.model_stats)


def _shm_regions(url: str) -> set[str]:
    with grpc.insecure_channel(url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        status = stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest(), timeout=10)
    return set(status.regions)


def _data_file(path: Path, rows: list[list[float]], factor: float = 2.0) -> Path:
    """perf_analyzer input data for 'fast' (OUTPUT0 = 2 * INPUT0) with validation_data."""
    doc = {
        "data": [{"INPUT0": {"content": r, "shape": [4]}} for r in rows],
        "validation_data": [{"OUTPUT0": [factor * v for v in r]} for r in rows],
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_protocol_reaches_the_server(
    full_server: InferenceServer,
    protocol: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = full_server.http_url if protocol == "http" else full_server.grpc_url
    before = _success_count(full_server.grpc_url)
    out = tmp_path / "pa.csv"
    argv = ["bench", "-m", "fast", "-i", protocol, "-u", url, "-f", str(out), *FAST]
    assert main(argv) == 0
    with out.open() as f:
        (row,) = csv.DictReader(f)
    served = _success_count(full_server.grpc_url) - before
    # every request counted in the CSV was answered by this server
    assert served >= float(row["Inferences/Second"]) * 0.25 * 3 * 0.9
    err = capsys.readouterr().err
    assert f"Service Kind: Triton ({protocol} to {url}" in err


def test_http_against_the_grpc_port_fails_precisely(
    full_server: InferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "-m", "fast", "-i", "http", "-u", full_server.grpc_url, "--timeout", "3"]
    assert main(argv) == 1
    assert f"no server answers at {full_server.grpc_url} over HTTP" in capsys.readouterr().err


def test_live_lines_and_quiet(
    full_server: InferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "-m", "fast", "-u", full_server.grpc_url, "--concurrency-range", "1:2", *FAST]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "*** Measurement Settings ***" in err
    assert err.index("Request concurrency: 1") < err.index("Request concurrency: 2")
    assert "  Pass [1] throughput: " in err
    assert "Avg latency: " in err
    assert err.count("  Client: request count ") == 2
    assert main([*argv, "-q"]) == 0
    captured = capsys.readouterr()
    assert "Pass [" not in captured.err
    assert "Concurrency" in captured.out  # the table still comes


def test_percentile_is_reported_and_used(
    full_server: InferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "-m", "fast", "-u", full_server.grpc_url, "--percentile", "95", *FAST]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Stabilizing using p95 latency" in err
    assert "p95 latency: " in err
    assert "Avg latency" not in err

    async def go() -> None:
        options = LoadOptions(
            measurement_interval_s=0.25, max_trials=3, stability_percentage=90, percentile=80
        )
        async with Target(full_server.grpc_url, "fast") as target:
            (m,) = await concurrency_sweep(target, [2], options)
        assert m.percentile == 80
        assert m.p50_us <= m.percentile_us <= m.p90_us

    asyncio.run(go())


def test_count_windows(full_server: InferenceServer) -> None:
    lines: list[str] = []

    async def go() -> None:
        options = LoadOptions(
            measurement_interval_s=60,  # never waited for in count_windows mode
            measurement_mode="count_windows",
            measurement_request_count=150,
            max_trials=3,
            stability_percentage=1000,
        )
        async with Target(full_server.grpc_url, "fast") as target:
            (m,) = await concurrency_sweep(target, [2], options, lines.append)
        assert m.trials == 3
        assert m.requests >= 3 * 150
        assert m.duration_s < 60

    asyncio.run(go())
    assert sum(line.startswith("  Pass [") for line in lines) == 3


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("batch", [1, 3])
def test_json_input_data_reaches_the_model(
    full_server: InferenceServer, protocol: str, batch: int, tmp_path: Path
) -> None:
    rows = [[1.0, 2.0, 3.0, 4.0], [-0.5, 0.25, 8.0, 16.0]]
    data = _data_file(tmp_path / "data.json", rows)
    url = full_server.http_url if protocol == "http" else full_server.grpc_url

    async def go() -> None:
        target = Target(url, "fast", protocol=protocol, input_data=str(data), batch_size=batch)
        async with target:
            # request k carries steps k*batch, k*batch+1, ... (wrapping round)
            for k in range(len(target.payloads)):
                got = (await target.outputs(k))["OUTPUT0"]
                want = [rows[(k * batch + j) % 2] for j in range(batch)]
                np.testing.assert_array_equal(got, 2 * np.array(want, np.float32))

    asyncio.run(go())
    argv = ["bench", "-m", "fast", "-i", protocol, "-u", url, "-b", str(batch), *FAST]
    assert main([*argv, "--input-data", str(data)]) == 0


def test_validation_data_mismatch_is_an_error(
    full_server: InferenceServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data_file(tmp_path / "wrong.json", [[1.0, 2.0, 3.0, 4.0]], factor=3.0)
    argv = ["bench", "-m", "fast", "-u", full_server.grpc_url, "--input-data", str(data)]
    assert main([*argv, *FAST]) == 1
    err = capsys.readouterr().err
    assert "output 'OUTPUT0' is [2.0, 4.0, 6.0, 8.0]" in err
    assert "validation_data expects [3.0, 6.0, 9.0, 12.0]" in err


def test_zero_and_directory_input_data(full_server: InferenceServer, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    np.array([1.5, 2.5, 3.5, 4.5], "<f4").tofile(tmp_path / "dir" / "INPUT0")

    async def first_output(spec: str) -> np.ndarray:
        async with Target(full_server.grpc_url, "fast", input_data=spec) as target:
            return (await target.outputs(0))["OUTPUT0"]

    np.testing.assert_array_equal(asyncio.run(first_output("zero")), np.zeros((1, 4)))
    got = asyncio.run(first_output(str(tmp_path / "dir")))
    np.testing.assert_array_equal(got, [[3.0, 5.0, 7.0, 9.0]])


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_shared_memory_carries_the_inputs(
    full_server: InferenceServer, protocol: str, tmp_path: Path
) -> None:
    data = _data_file(tmp_path / "data.json", [[1.0, 2.0, 3.0, 4.0]])
    url = full_server.http_url if protocol == "http" else full_server.grpc_url

    async def go() -> str:
        target = Target(
            url, "fast", protocol=protocol, input_data=str(data), shared_memory="system"
        )
        async with target:
            region = target.shm_region
            assert region is not None
            assert region in _shm_regions(full_server.grpc_url)
            # the request carries no tensor bytes, only where they lie
            assert np.array([1, 2, 3, 4], "<f4").tobytes() not in target.payloads[0]
            assert region.encode() in target.payloads[0]
            np.testing.assert_array_equal(
                (await target.outputs(0))["OUTPUT0"], [[2.0, 4.0, 6.0, 8.0]]
            )
            # the server reads the inputs from the region: change them there, not in the request
            assert target._region is not None
            view = np.ndarray((4,), "<f4", target._region.memory.buf)
            view[:] = [10.0, 20.0, 30.0, 40.0]
            np.testing.assert_array_equal(
                (await target.outputs(0))["OUTPUT0"], [[20.0, 40.0, 60.0, 80.0]]
            )
            del view
            (m,) = await concurrency_sweep(
                target, [2], LoadOptions(measurement_interval_s=0.25, max_trials=3)
            )
            assert m.requests > 0
            assert m.failures == 0
        return region

    region = asyncio.run(go())
    assert region not in _shm_regions(full_server.grpc_url)  # unregistered on close


def test_shared_memory_refused_without_enable_shm(
    server: InferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "-m", "fast", "-u", server.grpc_url, "--shared-memory", "system"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "refused the shared-memory region" in err
    assert "--enable-shm" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--percentile", "100"], "--percentile 100 must be from 1 to 99"),
        (["--measurement-request-count", "0"], "--measurement-request-count 0 must be at least 1"),
        (["--shared-memory", "cuda"], "--shared-memory cuda needs a GPU client"),
        (["--input-data", "/nonexistent/x.json"], "--input-data '/nonexistent/x.json' is not"),
        (["-i", "http", "--ssl-grpc-use-ssl"], "the --ssl-grpc-* options need -i grpc"),
        (["--threads", "0"], "--threads 0 must be at least 1"),
    ],
)
def test_bad_flags_exit_1(
    full_server: InferenceServer,
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "-m", "fast", "-u", full_server.grpc_url, *extra]) == 1
    assert message in capsys.readouterr().err


def test_native_engine_refuses_http(
    full_server: InferenceServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "-m", "fast", "-i", "http", "-u", full_server.http_url, "--engine", "native"]
    assert main(argv) == 1
    assert "--engine native runs concurrency mode over plain gRPC only" in capsys.readouterr().err


def test_shared_memory_needs_loopback() -> None:
    with pytest.raises(BenchError, match="not a loopback address"):
        Target("10.1.2.3:8001", "fast", shared_memory="system")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"data": []}, "with one or more steps"),
        ({"data": [{"X": [1, 2, 3, 4]}]}, r"missing input\(s\) \['INPUT0'\], unknown \['X'\]"),
        ({"data": [{"INPUT0": [1, 2, 3]}]}, r"has 3 values, its shape \[4\] needs 4"),
        (
            {"data": [{"INPUT0": [1, 2, 3, 4]}], "validation_data": [{"NOPE": [1]}]},
            "validation_data names unknown output 'NOPE'",
        ),
    ],
)
def test_bad_json_input_data(
    full_server: InferenceServer, tmp_path: Path, doc: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))

    async def go() -> None:
        async with Target(full_server.grpc_url, "fast", input_data=str(path)):
            pass

    with pytest.raises(BenchError, match=message):
        asyncio.run(go())
