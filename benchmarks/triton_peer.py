"""The Triton peer: model repositories for NVIDIA Triton and a running `tritonserver`.

NVIDIA Triton 2.51 (bundled in the `nvidia-pytriton` wheel, installed by
`scripts/setup-peers.sh`) has only the python backend here, no onnxruntime backend. The fair
stand-in for Triton's onnxruntime backend is a python-backend model whose `model.py` runs one
onnxruntime session over all the requests Triton hands it at once (concatenated along the batch
axis, split back afterwards). This module writes such a model repository for any `.onnx` file,
with or without Triton's dynamic batcher, and runs `tritonserver` on free ports of 127.0.0.1.

Standard library only (onnxruntime is imported lazily to read the model's inputs and outputs),
so it works from the project's `.venv` and from the peers' virtual environments alike::

    python benchmarks/triton_peer.py model.onnx -o repo --name jets --dynamic-batching
    python benchmarks/triton_peer.py model.onnx -o repo --name jets --serve   # until Ctrl-C
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

REPO = Path(__file__).resolve().parent.parent

# onnxruntime's type strings -> Triton's config.pbtxt data types.
ORT_TO_TRITON = {
    "tensor(float)": "TYPE_FP32",
    "tensor(double)": "TYPE_FP64",
    "tensor(float16)": "TYPE_FP16",
    "tensor(int8)": "TYPE_INT8",
    "tensor(int16)": "TYPE_INT16",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(uint16)": "TYPE_UINT16",
    "tensor(uint32)": "TYPE_UINT32",
    "tensor(uint64)": "TYPE_UINT64",
    "tensor(bool)": "TYPE_BOOL",
}

MODEL_PY = '''\
"""Triton python-backend model running onnxruntime over the batched requests.

Written by hepinfer's benchmarks/triton_peer.py: the stand-in for Triton's onnxruntime backend.
All requests of one `execute` call are concatenated along the batch axis, run through one
onnxruntime session call, and split back per request.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.batched = int(config.get("max_batch_size", 0)) > 0
        self.inputs = [(t["name"], pb_utils.triton_string_to_numpy(t["data_type"]))
                       for t in config["input"]]
        self.outputs = [t["name"] for t in config["output"]]
        params = config.get("parameters", {})
        threads = int(params.get("intra_op_thread_count", {}).get("string_value", "0"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        per_request = [
            [pb_utils.get_input_tensor_by_name(r, name).as_numpy().astype(dtype, copy=False)
             for name, dtype in self.inputs]
            for r in requests
        ]
        if self.batched and len(requests) > 1:
            sizes = [feeds[0].shape[0] for feeds in per_request]
            feed = {name: np.concatenate([f[i] for f in per_request])
                    for i, (name, _) in enumerate(self.inputs)}
            results = self.session.run(self.outputs, feed)
            splits = np.cumsum(sizes)[:-1]
            parts = [np.split(result, splits) for result in results]
            per_output = [[part[k] for part in parts] for k in range(len(requests))]
        else:
            per_output = [
                self.session.run(self.outputs,
                                 {name: f[i] for i, (name, _) in enumerate(self.inputs)})
                for f in per_request
            ]
        return [
            pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(name, np.ascontiguousarray(value))
                                for name, value in zip(self.outputs, values)]
            )
            for values in per_output
        ]
'''


class TritonPeerError(RuntimeError):
    """The Triton peer cannot be set up or did not start."""


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as Triton's config.pbtxt declares it (batch axis excluded)."""

    name: str
    data_type: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class OnnxSignature:
    """The inputs and outputs of an ONNX model, and whether its first axis is a free batch."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batched: bool


def peers_dir() -> Path:
    """Where `scripts/setup-peers.sh` installed the peers: `$HEPINFER_PEERS` or `<repo>/peers`."""
    return Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))


def tritonserver_path(peers: Path | None = None) -> Path:
    """The `tritonserver` wrapper script (sets LD_LIBRARY_PATH and the backend directory)."""
    return (peers or peers_dir()) / "bin" / "tritonserver"


def _dims(shape: Sequence[object]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else -1 for d in shape)


def onnx_signature(onnx_path: Path) -> OnnxSignature:
    """Read an ONNX model's inputs and outputs with onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    nodes = [*session.get_inputs(), *session.get_outputs()]
    for node in nodes:
        if node.type not in ORT_TO_TRITON:
            msg = (
                f"tensor {node.name!r} of {onnx_path} has type {node.type}, which the Triton "
                f"peer cannot serve; use one of {sorted(ORT_TO_TRITON)}"
            )
            raise TritonPeerError(msg)
    batched = all(
        len(node.shape) > 0 and not (isinstance(node.shape[0], int) and node.shape[0] > 0)
        for node in nodes
    )

    def spec(node: Any) -> TensorSpec:  # onnxruntime.NodeArg
        shape = list(node.shape)
        return TensorSpec(
            node.name, ORT_TO_TRITON[node.type], _dims(shape[1:] if batched else shape)
        )

    return OnnxSignature(
        inputs=tuple(spec(n) for n in session.get_inputs()),
        outputs=tuple(spec(n) for n in session.get_outputs()),
        batched=batched,
    )


def _tensor_block(kind: str, specs: Sequence[TensorSpec]) -> str:
    items = ",\n".join(
        f'  {{ name: "{s.name}" data_type: {s.data_type} dims: [ {", ".join(map(str, s.dims))} ] }}'
        for s in specs
    )
    return f"{kind} [\n{items}\n]\n"


def config_pbtxt(
    name: str,
    signature: OnnxSignature,
    *,
    max_batch_size: int = 1024,
    dynamic_batching: bool = False,
    max_queue_delay_us: int = 100,
    instances: int = 1,
    intra_op_threads: int = 0,
) -> str:
    """Triton's config.pbtxt for a python-backend model running onnxruntime."""
    if dynamic_batching and not signature.batched:
        msg = (
            f"model {name!r} has a fixed first axis, so Triton cannot batch it; "
            "export it with a dynamic batch axis or leave dynamic batching off"
        )
        raise TritonPeerError(msg)
    text = f'name: "{name}"\nbackend: "python"\n'
    text += f"max_batch_size: {max_batch_size if signature.batched else 0}\n"
    text += _tensor_block("input", signature.inputs)
    text += _tensor_block("output", signature.outputs)
    text += f"instance_group [ {{ count: {instances} kind: KIND_CPU }} ]\n"
    if dynamic_batching:
        text += f"dynamic_batching {{ max_queue_delay_microseconds: {max_queue_delay_us} }}\n"
    text += (
        'parameters { key: "intra_op_thread_count" '
        f'value {{ string_value: "{intra_op_threads}" }} }}\n'
    )
    return text


def write_model_repository(
    onnx_path: Path,
    repository: Path,
    name: str,
    *,
    max_batch_size: int = 1024,
    dynamic_batching: bool = False,
    max_queue_delay_us: int = 100,
    instances: int = 1,
    intra_op_threads: int = 0,
) -> Path:
    """Write `<repository>/<name>/{config.pbtxt,1/model.py,1/model.onnx}`; returns the model folder.

    `intra_op_threads` 0 lets onnxruntime choose (as Triton's onnxruntime backend does).
    """
    signature = onnx_signature(onnx_path)
    folder = repository / name
    version = folder / "1"
    version.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, version / "model.onnx")
    (version / "model.py").write_text(MODEL_PY)
    (folder / "config.pbtxt").write_text(
        config_pbtxt(
            name,
            signature,
            max_batch_size=max_batch_size,
            dynamic_batching=dynamic_batching,
            max_queue_delay_us=max_queue_delay_us,
            instances=instances,
            intra_op_threads=intra_op_threads,
        )
    )
    return folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_ready(url: str, timeout: float = 1.0) -> bool:
    """Whether `GET url` answers 200 (e.g. Triton's `/v2/health/ready`)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class TritonPeer:
    """A `tritonserver` serving `repository` on free 127.0.0.1 ports; a context manager.

    ``with TritonPeer(repo) as server: server.grpc_url`` starts it, waits until
    `/v2/health/ready` answers and stops it on exit. The server's log goes to `log_path`
    (default `<repository>/../tritonserver.log`), quoted in the error when start-up fails.
    """

    repository: Path
    binary: Path = field(default_factory=tritonserver_path)
    startup_timeout: float = 60.0
    log_path: Path | None = None
    extra_args: tuple[str, ...] = ()
    http_port: int = 0
    grpc_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def log(self) -> str:
        path = self.log_path
        return path.read_text(errors="replace") if path and path.exists() else ""

    def start(self) -> Self:
        if not self.binary.exists():
            msg = f"tritonserver not found at {self.binary}; run scripts/setup-peers.sh first"
            raise TritonPeerError(msg)
        self.http_port = self.http_port or free_port()
        self.grpc_port = self.grpc_port or free_port()
        if self.log_path is None:
            self.log_path = self.repository.parent / f"tritonserver-{self.grpc_port}.log"
        command = [
            str(self.binary),
            f"--model-repository={self.repository}",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--allow-metrics=false",
            "--exit-on-error=true",
            *self.extra_args,
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                msg = f"tritonserver exited with {self.process.returncode}:\n{self.log()[-4000:]}"
                raise TritonPeerError(msg)
            if http_ready(f"http://{self.http_url}/v2/health/ready"):
                return self
            time.sleep(0.2)
        self.stop()
        msg = (
            f"tritonserver not ready after {self.startup_timeout} s "
            f"(raise startup_timeout?):\n{self.log()[-4000:]}"
        )
        raise TritonPeerError(msg)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # Triton unloads models and exits on SIGINT
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # also end its python-backend stubs (same session)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path, help="the ONNX model to serve")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model repository")
    parser.add_argument("--name", default="model", help="model name in the repository")
    parser.add_argument("--dynamic-batching", action="store_true")
    parser.add_argument("--max-queue-delay-us", type=int, default=100)
    parser.add_argument("--max-batch-size", type=int, default=1024)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--intra-op-threads", type=int, default=0)
    parser.add_argument("--serve", action="store_true", help="then run tritonserver on it")
    args = parser.parse_args(argv)
    try:
        folder = write_model_repository(
            args.onnx,
            args.output,
            args.name,
            max_batch_size=args.max_batch_size,
            dynamic_batching=args.dynamic_batching,
            max_queue_delay_us=args.max_queue_delay_us,
            instances=args.instances,
            intra_op_threads=args.intra_op_threads,
        )
        print(f"wrote {folder}")
        if args.serve:
            with TritonPeer(args.output) as server:
                print(f"serving: grpc {server.grpc_url}  http {server.http_url}  (Ctrl-C stops)")
                try:
                    while server.process is not None and server.process.poll() is None:
                        time.sleep(0.5)
                except KeyboardInterrupt:
                    pass
    except TritonPeerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
