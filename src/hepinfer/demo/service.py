"""Demo steps 3 and 4: serve the model, check served outputs, scaling scan, direct inference.

The model repository (Triton's layout) holds the ONNX model for onnxruntime (its
`config.pbtxt` auto-completed from the graph) and, when the firmware backend is installed
(`hepinfer.serve.backends.firmware`), the compiled model for the hepinfer firmware backend.
An in-process `InferenceServer` serves both; the scaling scan (`hepinfer.bench.scan`) drives
it with simulated client jobs over gRPC.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hepinfer.bench.scan import ScanOptions, ScanResult
    from hepinfer.compiled import CompiledModel
    from hepinfer.serve import InferenceServer

ONNX_MODEL = "jet_onnx"
FIRMWARE_MODEL = "jet_firmware"


def firmware_backend_available() -> bool:
    """Whether this hepinfer has the firmware serving backend."""
    return importlib.util.find_spec("hepinfer.serve.backends.firmware") is not None


def write_repository(
    repo: Path, onnx_model: Path | None, compiled: CompiledModel | None
) -> list[str]:
    """Lay out the repository; returns the model names in it."""
    if repo.exists():
        shutil.rmtree(repo)
    names = []
    if onnx_model is not None:
        (repo / ONNX_MODEL / "1").mkdir(parents=True)
        shutil.copyfile(onnx_model, repo / ONNX_MODEL / "1" / "model.onnx")
        names.append(ONNX_MODEL)
    if compiled is not None:
        compiled.save(repo / FIRMWARE_MODEL / "1" / "model.hepinfer")
        names.append(FIRMWARE_MODEL)
    return names


@dataclass(frozen=True)
class ServedCheck:
    """Served outputs against direct ones for one model."""

    model: str
    samples: int
    differing: int
    max_abs_diff: float


def check_served(
    server: InferenceServer, model: str, x: np.ndarray, expected: np.ndarray
) -> ServedCheck:
    """Send `x` through gRPC in batches of the model's max_batch_size; compare with `expected`."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        config = client.get_model_config(model).config
        meta = client.get_model_metadata(model)
        batch = max(1, config.max_batch_size)
        name, out_name = meta.inputs[0].name, meta.outputs[0].name
        outs = []
        for start in range(0, len(x), batch):
            chunk = x[start : start + batch].astype(np.float32)
            inp = grpcclient.InferInput(name, list(chunk.shape), "FP32")
            inp.set_data_from_numpy(chunk)
            outs.append(client.infer(model, [inp]).as_numpy(out_name))
    finally:
        client.close()
    served = np.concatenate(outs).reshape(len(x), -1).astype(np.float64)
    want = expected.reshape(len(x), -1)
    return ServedCheck(
        model, len(x), int((served != want).sum()), float(np.abs(served - want).max())
    )


def run_scan(url: str, model: str, options: ScanOptions) -> ScanResult:
    """The SONIC-style scaling scan against `model` at `url` (gRPC)."""
    from hepinfer.bench import Target, scan

    async def go() -> ScanResult:
        target = Target(url, model, seed=options.seed)
        try:
            await target.connect()
            return await scan(target, options)
        finally:
            await target.close()

    return asyncio.run(go())


@dataclass(frozen=True)
class DirectResult:
    """In-process inference without a server: per-event (batch 1) and batched throughput."""

    name: str
    batch1_per_s: float
    batch1_us: float
    batched_per_s: float
    batch_size: int


def _rate(fn: Callable[[], Any], calls: int, per_call: int) -> float:
    fn()  # warm
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls * per_call / (time.perf_counter() - start)


def measure_direct(
    name: str, fn: Callable[[np.ndarray], Any], x: np.ndarray, *, calls: int, batch: int
) -> DirectResult:
    """Throughput of `fn` on one event at a time and on batches of `batch` events."""
    one = x[:1]
    many = np.resize(x, (batch, *x.shape[1:]))
    r1 = _rate(lambda: fn(one), calls, 1)
    rb = _rate(lambda: fn(many), max(10, calls // 50), batch)
    return DirectResult(name, r1, 1e6 / r1, rb, batch)


def onnxruntime_direct(onnx_model: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A one-thread onnxruntime session, as the server's instance has (float32 in)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        out: np.ndarray = session.run(None, {name: x.astype(np.float32)})[0]
        return out

    return run
