"""Memory under attack: the server's resident memory while one client floods it.

Two attacks from issue 17, against ``hepinfer serve`` in its own process (RSS read from
/proc every 50 ms):

- **stream flood**: one ModelStreamInfer stream of N requests of 1.28 MiB each, sent as fast
  as the client can (the first report saw 3,000 of them drive RSS to 13.2 GiB);
- **BYTES bomb**: tiny requests declaring 2**27 and 2**31 BYTES elements (the first report saw
  a 33-byte request allocate 1.1 GiB and stall every client for 2.6 s).

Prints peak RSS against the configured budget (``--max-queued-mb``) and how the requests were
answered::

    .venv/bin/python benchmarks/memory_attacks.py --requests 3000
"""

from __future__ import annotations

import argparse
import queue
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

from bench_server import serve_process

WIDTH = 335_544  # float32 elements: 1.28 MiB per request

CONFIG = f"""name: "big"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [{{ name: "INPUT0" data_type: TYPE_FP32 dims: [{WIDTH}] }}]
output [{{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [{WIDTH}] }}]
dynamic_batching {{ max_queue_delay_microseconds: 1000 }}
"""


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid`, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """Peak RSS of a process, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.05)


def stream_flood(url: str, n: int) -> Counter[str]:
    """Send `n` 1.28 MiB requests on one stream; count the answers by status."""
    import numpy as np
    import tritonclient.grpc as grpcclient

    answers: queue.Queue[str] = queue.Queue()

    def done(result: object, error: object) -> None:  # noqa: ARG001 - tritonclient's names
        if error is None:
            answers.put("OK")
        else:  # stream errors carry the message only
            text = str(error)
            answers.put("RESOURCE_EXHAUSTED" if "budget" in text else text[:60])

    client = grpcclient.InferenceServerClient(url)
    client.start_stream(callback=done)
    x = grpcclient.InferInput("INPUT0", [1, WIDTH], "FP32")
    x.set_data_from_numpy(np.ones((1, WIDTH), np.float32))
    for _ in range(n):
        client.async_stream_infer("big", [x])
    counts: Counter[str] = Counter()
    for _ in range(n):
        counts[answers.get(timeout=600)] += 1
    client.stop_stream()
    return counts


def bytes_bomb(url: str, count: int) -> tuple[str, float]:
    """One tiny request declaring `count` BYTES elements: (status, seconds to answer)."""
    import grpc
    from tritonclient.grpc import service_pb2 as pb
    from tritonclient.grpc import service_pb2_grpc

    request = pb.ModelInferRequest(model_name="big")
    request.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, count])
    request.raw_input_contents.append(b"\0\0\0\0")
    with grpc.insecure_channel(url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        start = time.monotonic()
        try:
            stub.ModelInfer(request, timeout=60)
            status = "OK"
        except grpc.RpcError as exc:
            status = f"{exc.code().name}: {exc.details()[:90]}"
        return status, time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--budget-mb", type=int, default=1024, help="--max-queued-mb")
    args = parser.parse_args()
    from tests.serve.models import scale_model

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        scale_model(repo / "big" / "1" / "model.onnx", 2.0, width=WIDTH)
        (repo / "big" / "config.pbtxt").write_text(CONFIG)
        with serve_process(repo, "--max-queued-mb", str(args.budget_mb)) as (proc, url):
            base = rss_mib(proc.pid)
            sampler = Sampler(proc.pid)
            sampler.start()
            start = time.monotonic()
            counts = stream_flood(url, args.requests)
            seconds = time.monotonic() - start
            flood_peak = sampler.peak
            bombs = [bytes_bomb(url, c) for c in (2**27, 2**31)]
            sampler.stop.set()
            sampler.join()
            after = rss_mib(proc.pid)
    print(f"server RSS at start {base:.0f} MiB; budget for queued requests {args.budget_mb} MiB")
    print(
        f"stream flood: {args.requests} x 1.28 MiB in {seconds:.1f} s: "
        + ", ".join(f"{k} {v}" for k, v in counts.most_common())
    )
    print(f"peak server RSS during the flood {flood_peak:.0f} MiB")
    for count, (status, took) in zip((2**27, 2**31), bombs, strict=True):
        print(f"BYTES bomb [1, {count}]: {status} in {took * 1000:.1f} ms")
    print(f"peak server RSS overall {sampler.peak:.0f} MiB, after the attacks {after:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
