"""Client-side CPU cost per request: hepinfer's SONIC-style client against tritonclient.

One `hepinfer serve` process serves the models; this process runs each client in turn for a
fixed number of requests at a fixed concurrency and measures its own CPU time
(`time.process_time`, all threads of the client process, gRPC's included) and wall time:

- hepinfer `SonicClient`, Mode.SYNC (concurrency 1) and Mode.ASYNC (`acquire` keeps C events
  in flight, `produce` reads the oldest), with unary calls, with `streaming=True` and with
  `use_shared_memory=True` (the server runs with ``--enable-shm``), and its asyncio API
  (C tasks awaiting `client.ainfer`, like the aio peer);
- `tritonclient.grpc`: blocking `infer` (concurrency 1) and `async_infer` with callbacks
  (C in flight);
- `tritonclient.grpc.aio`: C asyncio tasks awaiting `infer`.

Every request carries fresh data the client must encode (tritonclient: `InferInput` +
`set_data_from_numpy` per request, as an event loop does) and reads its output as numpy.
Payloads: the 16-input jet-tagger MLP at batch 1 (64 bytes), and one PFNano event of
ParticleNet-AK4 inputs (8 jets, 39 kB) when the shared data is present. Prints a Markdown table
with ratios (tritonclient CPU / hepinfer CPU) measured in the same run::

    .venv/bin/python benchmarks/bench_client.py [--requests 3000] [--concurrency 1 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from scripts.peer_checks.tiny_onnx import tiny_mlp

DATA = Path(os.environ.get("HEPINFER_TEST_DATA", REPO.parent / "shared" / "data"))
SONIC = DATA / "triton-repos" / "sonic-models"
PFNANO = DATA / "events" / "pfnano.root"

TINY_CONFIG = """name: "tiny"
platform: "onnxruntime_onnx"
max_batch_size: 64
input [{ name: "x" data_type: TYPE_FP32 dims: [16] }]
output [{ name: "y" data_type: TYPE_FP32 dims: [5] }]
dynamic_batching { max_queue_delay_microseconds: 100 }
"""

Payload = dict[str, np.ndarray]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def hepinfer_server(repos: list[Path], model: str) -> Iterator[str]:
    """`hepinfer serve` in its own process; yields its gRPC address once the model is ready."""
    import grpc
    from tritonclient.grpc import service_pb2 as pb
    from tritonclient.grpc import service_pb2_grpc

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "hepinfer", "serve", *map(str, repos), "--grpc-port", str(port),
           "--http-port", "-1", "--metrics-port", "-1", "--enable-shm",
           "--exit-on-error=false"]  # fmt: skip
    # (--exit-on-error=false: sonic-models' deepmet needs the optional tensorflow)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(url) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            deadline = time.monotonic() + 120
            while True:
                try:
                    if stub.ModelReady(pb.ModelReadyRequest(name=model), timeout=1).ready:
                        break
                except grpc.RpcError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    msg = f"hepinfer serve did not get ready: {' '.join(cmd)}"
                    raise RuntimeError(msg)
                time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


Runner = tuple[Callable[[int], None], Callable[[], None]]


def measure(runner: Runner, n: int, warmup: int, repeats: int) -> tuple[float, float]:
    """Best of `repeats` (CPU microseconds per request, requests per second) after a warm-up."""
    run, close = runner
    try:
        run(warmup)
        best = (float("inf"), 0.0)
        for _ in range(repeats):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            run(n)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            best = min(best, (cpu / n * 1e6, n / wall))
        return best
    finally:
        close()


# ---------------------------------------------------------------------------- clients
def hepinfer_run(
    url: str,
    model: str,
    payloads: list[Payload],
    out: str,
    c: int,
    sync: bool,
    streaming: bool = False,
    shm: bool = False,
) -> Runner:
    from hepinfer.client import ClientOptions, Mode, SonicClient

    mode = Mode.SYNC if sync else Mode.ASYNC
    opts = ClientOptions(
        model,
        servers=(url,),
        mode=mode,
        streaming=streaming,
        use_shared_memory=shm,
        health_interval_s=5,
    )
    client = SonicClient(opts)
    k = len(payloads)

    def run(n: int) -> None:
        if sync:
            for i in range(n):
                client.infer(payloads[i % k])[out]
            return
        pending = []
        for i in range(n):
            pending.append(client.acquire(payloads[i % k]))
            if len(pending) >= c:
                client.produce(pending.pop(0))[out]
        for h in pending:
            client.produce(h)[out]

    return run, client.close


def _triton_inputs(grpcclient: object, payload: Payload) -> list[object]:
    inputs = []
    for name, array in payload.items():
        inp = grpcclient.InferInput(name, list(array.shape), "FP32")  # type: ignore[attr-defined]
        inp.set_data_from_numpy(array)
        inputs.append(inp)
    return inputs


def triton_grpc_run(
    url: str, model: str, payloads: list[Payload], out: str, c: int, sync: bool
) -> Runner:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url)
    outputs = [grpcclient.InferRequestedOutput(out)]
    k = len(payloads)

    def run(n: int) -> None:
        if sync:
            for i in range(n):
                inputs = _triton_inputs(grpcclient, payloads[i % k])
                client.infer(model, inputs, outputs=outputs).as_numpy(out)
            return
        done: queue.SimpleQueue[object] = queue.SimpleQueue()

        def callback(result: object, error: object) -> None:
            done.put(error if error is not None else result)

        sent = 0
        for _ in range(min(c, n)):
            client.async_infer(
                model, _triton_inputs(grpcclient, payloads[sent % k]), callback, outputs=outputs
            )
            sent += 1
        for _ in range(n):
            result = done.get()
            if isinstance(result, Exception):
                raise result
            result.as_numpy(out)  # type: ignore[attr-defined]
            if sent < n:
                client.async_infer(
                    model, _triton_inputs(grpcclient, payloads[sent % k]), callback, outputs=outputs
                )
                sent += 1

    return run, client.close


def triton_aio_run(
    url: str, model: str, payloads: list[Payload], out: str, c: int, _sync: bool
) -> Runner:
    import tritonclient.grpc as grpcclient
    import tritonclient.grpc.aio as aioclient

    k = len(payloads)
    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(_aio_client(aioclient, url))
    outputs = [aioclient.InferRequestedOutput(out)]

    async def worker(count: int, offset: int) -> None:
        for i in range(count):
            inputs = _triton_inputs(grpcclient, payloads[(offset + i) % k])
            (await client.infer(model, inputs, outputs=outputs)).as_numpy(out)

    async def main(n: int) -> None:
        per = [n // c + (1 if i < n % c else 0) for i in range(c)]
        await asyncio.gather(*(worker(p, i) for i, p in enumerate(per)))

    def run(n: int) -> None:
        loop.run_until_complete(main(n))

    def close() -> None:
        loop.run_until_complete(client.close())  # type: ignore[attr-defined]
        loop.close()

    return run, close


async def _aio_client(aioclient: object, url: str) -> object:
    return aioclient.InferenceServerClient(url)  # type: ignore[attr-defined]


def hepinfer_stream_run(
    url: str, model: str, payloads: list[Payload], out: str, c: int, sync: bool
) -> Runner:
    return hepinfer_run(url, model, payloads, out, c, sync, streaming=True)


def hepinfer_shm_run(
    url: str, model: str, payloads: list[Payload], out: str, c: int, sync: bool
) -> Runner:
    return hepinfer_run(url, model, payloads, out, c, sync, shm=True)


def hepinfer_asyncio_run(
    url: str, model: str, payloads: list[Payload], out: str, c: int, _sync: bool
) -> Runner:
    from hepinfer.client import ClientOptions, Mode, SonicClient

    opts = ClientOptions(model, servers=(url,), mode=Mode.ASYNC, health_interval_s=5)
    client = SonicClient(opts)
    k = len(payloads)
    loop = asyncio.new_event_loop()

    async def worker(count: int, offset: int) -> None:
        for i in range(count):
            (await client.ainfer(payloads[(offset + i) % k]))[out]

    async def main(n: int) -> None:
        per = [n // c + (1 if i < n % c else 0) for i in range(c)]
        await asyncio.gather(*(worker(p, i) for i, p in enumerate(per)))

    def run(n: int) -> None:
        loop.run_until_complete(main(n))

    def close() -> None:
        client.close()
        loop.close()

    return run, close


CLIENTS = {
    "hepinfer": hepinfer_run,
    "hepinfer (asyncio)": hepinfer_asyncio_run,
    "hepinfer (streaming)": hepinfer_stream_run,
    "hepinfer (shared memory)": hepinfer_shm_run,
    "tritonclient.grpc": triton_grpc_run,
    "tritonclient.grpc.aio": triton_aio_run,
}


# ---------------------------------------------------------------------------- payloads
def tiny_payloads(k: int = 64) -> list[Payload]:
    rng = np.random.default_rng(0)
    return [{"x": rng.normal(size=(1, 16)).astype(np.float32)} for _ in range(k)]


def particlenet_payloads() -> list[Payload]:
    from hepinfer.workflows.particlenet import event_inputs
    from hepinfer.workflows.pfnano import read_events

    out = []
    for event in read_events(PFNANO):
        _, inputs = event_inputs(event)
        if inputs["pf_points"].shape[0] == 8:
            out.append(inputs)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--pn-requests", type=int, default=300, help="ParticleNet requests")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        (repo / "tiny" / "1").mkdir(parents=True)
        tiny_mlp(repo / "tiny" / "1" / "model.onnx")
        (repo / "tiny" / "config.pbtxt").write_text(TINY_CONFIG)
        cases = [("jet MLP, batch 1 (64 B)", [repo], "tiny", tiny_payloads(), "y", args.requests)]
        if (SONIC / "particlenet_AK4").is_dir() and PFNANO.is_file():
            pn_repo = Path(tmp) / "pn"
            pn_repo.mkdir()
            (pn_repo / "particlenet_AK4").symlink_to(SONIC / "particlenet_AK4")
            cases.append(("ParticleNet AK4, 8 jets (39 kB)", [pn_repo], "particlenet_AK4",
                          particlenet_payloads(), "softmax", args.pn_requests))  # fmt: skip
        for label, repos, model, payloads, out, n in cases:
            with hepinfer_server(repos, model) as url:
                for c in args.concurrency:
                    result = {}
                    for name, make in CLIENTS.items():
                        run = make(
                            url, model, payloads, out, c, c == 1 and name != "tritonclient.grpc.aio"
                        )
                        result[name] = measure(run, n, max(20, n // 10), args.repeats)
                    rows.append((label, c, n, result))
                    print(
                        label,
                        c,
                        {k: (round(v[0], 1), round(v[1])) for k, v in result.items()},
                        flush=True,
                    )

    print()
    names = list(CLIENTS)
    head = ["payload", "concurrency", "requests", *(f"{n} CPU/req" for n in names)]
    peers = [n for n in names if not n.startswith("hepinfer")]
    head += [f"{n} / hepinfer" for n in peers]
    head += [f"{n} / hepinfer (streaming)" for n in peers]
    head += ["tritonclient.grpc.aio / hepinfer (asyncio)"]
    head.append("req/s: " + ", ".join(names))
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for label, c, n, r in rows:
        cpu = [r[k][0] for k in names]
        rate = [r[k][1] for k in names]
        cells = [label, str(c), str(n), *(f"{x:.0f} us" for x in cpu)]
        cells += [f"{r[k][0] / cpu[0]:.2f}x" for k in peers]
        cells += [f"{r[k][0] / r['hepinfer (streaming)'][0]:.2f}x" for k in peers]
        cells.append(f"{r['tritonclient.grpc.aio'][0] / r['hepinfer (asyncio)'][0]:.2f}x")
        cells.append(", ".join(f"{x:.0f}" for x in rate))
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
