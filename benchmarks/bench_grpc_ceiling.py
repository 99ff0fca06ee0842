"""The ceiling of a Python grpc.aio front end: perf_analyzer against a canned ModelInfer.

hepinfer's servicer answers every RPC as usual, except that ModelInfer returns a prepared
response without decoding, batching or running anything (statistics are still counted so
perf_analyzer's server-side view works). What this reaches is the most any grpc.aio server
in Python can do on this machine; compare with `bench_server.py`::

    .venv/bin/python benchmarks/bench_grpc_ceiling.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_server import JET_ONNX, hepinfer_repo, jet_onnx, perf
from triton_peer import free_port, peers_dir


def serve(repo: Path, port: int, ready: threading.Event) -> None:
    import grpc
    from tritonclient.grpc import service_pb2 as pb
    from tritonclient.grpc import service_pb2_grpc

    from hepinfer.serve.core import ServerCore
    from hepinfer.serve.grpc_service import GrpcService
    from hepinfer.serve.repository import ModelRepository

    class Canned(GrpcService):  # type: ignore[misc]
        async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: ARG002
            model = self.core.repository.get(request.model_name)
            model.stats.success.add(1000)
            model.stats.queue.add(1)
            model.stats.record_batch(1, 1, 1, 1, 1)
            response = pb.ModelInferResponse(model_name=request.model_name, model_version="1")
            response.outputs.add(name=model.output_names[0], datatype="FP32", shape=[1, 5])
            response.raw_output_contents.append(np.zeros(5, np.float32).tobytes())
            return response

    async def main() -> None:
        repository = ModelRepository([repo])
        await repository.load_all()
        server = grpc.aio.server()
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            Canned(ServerCore(repository)), server
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.set()
        await server.wait_for_termination()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    pa = peers_dir() / "bin" / "perf_analyzer"
    if not (peers_dir() / "READY-pa").exists():
        print(f"perf_analyzer not installed under {peers_dir()}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        names = jet_onnx(JET_ONNX, tmp / "jet.onnx")
        repo = hepinfer_repo(tmp / "repo", tmp / "jet.onnx", names)
        port = free_port()
        ready = threading.Event()
        threading.Thread(target=serve, args=(repo, port, ready), daemon=True).start()
        ready.wait(60)
        for c in args.concurrency:
            r = perf(pa, f"127.0.0.1:{port}", "jet", c, args.seconds, 20)
            print(f"grpc.aio canned ModelInfer c={c:<3} {r['throughput']:9.0f} infer/s  "
                  f"p50 {r['p50'] / 1000:.2f} ms  p99 {r['p99'] / 1000:.2f} ms", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
