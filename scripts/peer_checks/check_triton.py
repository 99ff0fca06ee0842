"""End-to-end check of the Triton peer (and optionally perf_analyzer) on a tiny ONNX MLP.

Run with the triton venv's python (it has onnx, onnxruntime and tritonclient):
    peers/triton/bin/python scripts/peer_checks/check_triton.py WORKDIR [--perf-analyzer BIN]
Serves the model through `peers/bin/tritonserver` twice (without and with dynamic batching),
compares a gRPC infer with onnxruntime in-process, and with --perf-analyzer runs it in
concurrency mode and checks the CSV it writes. Exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent / "benchmarks")]

from tiny_onnx import tiny_mlp

from triton_peer import TritonPeer, tritonserver_path, write_model_repository


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--tritonserver", type=Path, default=tritonserver_path())
    parser.add_argument("--perf-analyzer", type=Path)
    args = parser.parse_args(argv)

    import onnxruntime as ort
    import tritonclient.grpc as grpcclient

    args.workdir.mkdir(parents=True, exist_ok=True)
    onnx_path = tiny_mlp(args.workdir / "tiny.onnx")
    repo = args.workdir / "model_repository"
    write_model_repository(onnx_path, repo, "tiny")
    write_model_repository(onnx_path, repo, "tiny_dyn", dynamic_batching=True)

    x = np.random.default_rng(2).normal(size=(3, 16)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = session.run(["y"], {"x": x})[0]
    with TritonPeer(repo, binary=args.tritonserver) as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        for model in ("tiny", "tiny_dyn"):
            tensor = grpcclient.InferInput("x", list(x.shape), "FP32")
            tensor.set_data_from_numpy(x)
            got = client.infer(model, [tensor]).as_numpy("y")
            if got is None or not np.allclose(got, expected, atol=1e-6):
                print(f"{model}: Triton answered {got}, onnxruntime {expected}")
                return 1
        print(f"tritonserver answered gRPC infers on {server.grpc_url} (matches onnxruntime)")
        client.close()
        if args.perf_analyzer:
            out = args.workdir / "perf.csv"
            command = [
                str(args.perf_analyzer), "-m", "tiny_dyn", "-u", server.grpc_url, "-i", "grpc",
                "-b", "1", "--concurrency-range", "2:2", "-p", "500", "--max-trials", "5",
                "-s", "50", "-f", str(out),
            ]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0 or not out.exists():
                print(
                    f"perf_analyzer failed ({result.returncode}):\n{result.stdout}{result.stderr}"
                )
                return 1
            rows = list(csv.DictReader(out.read_text().splitlines()))
            if not rows or float(rows[0]["Inferences/Second"]) <= 0:
                print(f"perf_analyzer wrote no throughput to {out}: {rows}")
                return 1
            print(f"perf_analyzer: {float(rows[0]['Inferences/Second']):.0f} infer/s at c=2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
