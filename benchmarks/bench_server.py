"""hepinfer's server against NVIDIA Triton 2.51 with perf_analyzer, in the same run.

The 16-64-32-32-5 jet tagger (hls4ml's ``three_layer_keras.onnx`` with its batch axis made
free), batch 1 per request, perf_analyzer over gRPC at concurrency 1, 4 and 16, against:

- hepinfer (``hepinfer serve``, onnxruntime backend) without and with dynamic batching;
- Triton 2.51, python backend running onnxruntime (the stand-in for its onnxruntime backend,
  written by ``benchmarks/triton_peer.py``), without and with dynamic batching.

Both run onnxruntime with one intra-op thread per instance, one instance. Both servers stay up
and the measurements are interleaved over `--rounds` rounds (medians reported), so load from
elsewhere on a shared machine hits both alike. Prints a Markdown table and the hepinfer /
Triton ratios::

    .venv/bin/python benchmarks/bench_server.py
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from triton_peer import TritonPeer, free_port, peers_dir, write_model_repository

DATA = Path(os.environ.get("HEPINFER_TEST_DATA", REPO.parent / "shared" / "data"))
JET_ONNX = DATA / "hls4ml-example-models" / "onnx" / "three_layer_keras.onnx"

HEPINFER_CONFIG = """name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: 1024
input [{{ name: "{input}" data_type: TYPE_FP32 dims: [16] }}]
output [{{ name: "{output}" data_type: TYPE_FP32 dims: [5] }}]
{batching}
"""


def jet_onnx(source: Path, target: Path) -> tuple[str, str]:
    """The jet tagger with a free batch axis (the file has batch 1 and weights as inputs)."""
    import onnx

    model = onnx.load(str(source))
    weights = {t.name for t in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    for t in [*model.graph.input, *model.graph.output]:
        t.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]
    onnx.save(model, str(target))
    return model.graph.input[0].name, model.graph.output[0].name


def hepinfer_repo(root: Path, onnx_path: Path, names: tuple[str, str]) -> Path:
    for name, batching in (("jet", ""), ("jet_dyn", "dynamic_batching { }")):
        (root / name / "1").mkdir(parents=True)
        (root / name / "1" / "model.onnx").write_bytes(onnx_path.read_bytes())
        (root / name / "config.pbtxt").write_text(
            HEPINFER_CONFIG.format(name=name, input=names[0], output=names[1], batching=batching)
        )
    return root


@contextmanager
def serve_process(
    repo: Path, *extra: str, src: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`hepinfer serve REPO` (gRPC only) in its own process on a free port, with `extra`
    arguments and, when given, the package from `src` first on the path; yields (process,
    gRPC url) once the server is ready and stops it (SIGINT) afterwards.
    """
    import tritonclient.grpc as grpcclient

    port = free_port()
    command = [
        sys.executable, "-m", "hepinfer", "serve", str(repo), "--grpc-port", str(port),
        "--http-port", "-1", "--metrics-port", "-1", *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else None
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
    url = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if grpcclient.InferenceServerClient(url).is_server_ready():
                    break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.2)
        else:
            msg = f"hepinfer serve did not become ready: {' '.join(command)}"
            raise RuntimeError(msg)
        yield proc, url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


@contextmanager
def hepinfer_server(repo: Path, frontend: str = "auto") -> Iterator[str]:
    """The gRPC url of `hepinfer serve` on `repo` with the given gRPC front end."""
    with serve_process(repo, "--grpc-frontend", frontend) as (_, url):
        yield url


def perf(
    pa: Path,
    url: str,
    model: str,
    concurrency: int,
    seconds: float,
    stability: int,
    extra: Sequence[str] = (),
) -> dict[str, float]:
    """One perf_analyzer measurement: infer/s and latencies (us) from its CSV."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pa.csv"
        command = [
            str(pa), "-m", model, "-u", url, "-i", "grpc", "-b", "1",
            "--concurrency-range", f"{concurrency}:{concurrency}",
            "-p", str(int(seconds * 1000)), "--max-trials", "10", "-s", str(stability),
            "-f", str(out), *extra,
        ]  # fmt: skip
        for _ in range(3):  # a shared, noisy machine may not stabilise at once
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode == 0:
                break
        if result.returncode != 0:
            msg = f"perf_analyzer failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}"
            raise RuntimeError(msg)
        with out.open() as f:
            row = next(csv.DictReader(f))
    return {
        "throughput": float(row["Inferences/Second"]),
        "p50": float(row["p50 latency"]),
        "p99": float(row["p99 latency"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=3.0, help="perf_analyzer window")
    parser.add_argument("--triton-delay-us", type=int, default=100)
    parser.add_argument(
        "--nice", type=int, default=0,
        help="scheduling priority for the whole run, e.g. -10 (root) on a shared machine",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; the table shows medians"
    )
    parser.add_argument(
        "--grpc-frontend", default="auto", choices=("auto", "native", "aio"),
        help="hepinfer's gRPC front end (hepinfer serve --grpc-frontend)",
    )  # fmt: skip
    parser.add_argument(
        "--stability", type=int, default=20, help="perf_analyzer -s (percent, default 20)"
    )
    args = parser.parse_args()
    if args.nice:
        # servers and perf_analyzer inherit it: both servers gain alike over other jobs
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    peers = peers_dir()
    pa = peers / "bin" / "perf_analyzer"
    if not (peers / "READY-pa").exists() or not (peers / "READY-triton").exists():
        print(f"peers not installed under {peers} (set HEPINFER_PEERS)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        onnx_path = tmp / "jet.onnx"
        names = jet_onnx(JET_ONNX, onnx_path)
        ours = hepinfer_repo(tmp / "hepinfer", onnx_path, names)
        theirs = tmp / "triton"
        write_model_repository(onnx_path, theirs, "jet", intra_op_threads=1)
        write_model_repository(
            onnx_path, theirs, "jet_dyn", dynamic_batching=True,
            max_queue_delay_us=args.triton_delay_us, intra_op_threads=1,
        )  # fmt: skip
        samples: dict[tuple[str, int], list[dict[str, float]]] = {}
        # both servers stay up; every round measures each (server, model, concurrency) once,
        # interleaved, so that load from elsewhere on the machine hits both alike
        with hepinfer_server(ours, args.grpc_frontend) as ours_url, _triton(theirs) as their_url:
            urls = {"hepinfer": ours_url, "triton": their_url}
            for round_ in range(args.rounds):
                for c in args.concurrency:
                    for server in ("hepinfer", "triton"):
                        for model in ("jet", "jet_dyn"):
                            r = perf(pa, urls[server], model, c, args.seconds, args.stability)
                            samples.setdefault((f"{server}/{model}", c), []).append(r)
                            print(f"round {round_ + 1} {server:8} {model:8} c={c:<3} "
                                  f"{r['throughput']:9.0f} infer/s  p50 {r['p50'] / 1000:.2f} ms"
                                  f"  p99 {r['p99'] / 1000:.2f} ms", flush=True)  # fmt: skip
        results = {key: _median(runs) for key, runs in samples.items()}
    print()
    print(table(results, args.concurrency, args.triton_delay_us))
    return 0


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-metric median over rounds."""
    return {k: float(statistics.median(r[k] for r in runs)) for k in runs[0]}


@contextmanager
def _triton(repo: Path) -> Iterator[str]:
    with TritonPeer(repo) as server:
        yield server.grpc_url


def table(results: dict[tuple[str, int], dict[str, float]], cs: list[int], delay: int) -> str:
    label = {
        "hepinfer/jet": "hepinfer, no batching",
        "hepinfer/jet_dyn": "hepinfer, dynamic batching (delay 0)",
        "triton/jet": "Triton 2.51 python+onnxruntime, no batching",
        "triton/jet_dyn": f"Triton 2.51 python+onnxruntime, dynamic batching ({delay} us)",
    }
    head = "| server | " + " | ".join(f"c={c}: infer/s, p50, p99" for c in cs) + " |"
    lines = [head, "|---|" + "---|" * len(cs)]
    for key, text in label.items():
        cells = []
        for c in cs:
            r = results[(key, c)]
            cells.append(
                f"{r['throughput']:,.0f}, {r['p50'] / 1000:.2f} ms, {r['p99'] / 1000:.2f} ms"
            )
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "| ratio hepinfer / Triton | " + " | ".join(f"c={c}: throughput, p99" for c in cs) + " |"
    )
    lines.append("|---|" + "---|" * len(cs))
    for ours, theirs, text in (
        ("hepinfer/jet", "triton/jet", "no batching vs no batching"),
        ("hepinfer/jet_dyn", "triton/jet_dyn", "dynamic vs dynamic"),
        ("hepinfer/jet_dyn", "triton/jet", "hepinfer dynamic vs Triton no batching"),
    ):
        cells = []
        for c in cs:
            a, b = results[(ours, c)], results[(theirs, c)]
            cells.append(f"{a['throughput'] / b['throughput']:.2f}x, {a['p99'] / b['p99']:.2f}x")
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
