"""A bounded fuzz test: random and mutated request bodies over gRPC and HTTP never crash the
server, never make it answer INTERNAL / 500 (a client's mistake is the client's), and a good
request is answered correctly afterwards (issue 17).
"""

from __future__ import annotations

import http.client
import json
from collections import Counter
from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2 as pb

from hepinfer.serve import InferenceServer
from tests.serve.models import build_repository
from tests.serve.security.servers import options_for

ROUNDS_GRPC = 1200
ROUNDS_HTTP = 1000
SERVICE = "/inference.GRPCInferenceService/"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    repo = build_repository(tmp_path_factory.mktemp("repo"))
    options = options_for(repo, max_message_bytes=1 << 20)
    with InferenceServer(options) as srv:
        yield srv


def _seeds() -> list[bytes]:
    """Valid ModelInfer requests for float, integer and BYTES models."""
    out = []
    r = pb.ModelInferRequest(model_name="scale", id="1")
    t = r.inputs.add(name="INPUT0", datatype="FP32", shape=[2, 4])
    r.raw_input_contents.append(np.ones((2, 4), np.float32).tobytes())
    out.append(r.SerializeToString())
    r = pb.ModelInferRequest(model_name="ints")
    for name in ("A", "B"):
        t = r.inputs.add(name=name, datatype="INT32", shape=[3])
        t.contents.int_contents.extend([1, 2, 3])
    r.outputs.add(name="SUM")
    out.append(r.SerializeToString())
    r = pb.ModelInferRequest(model_name="strings")
    t = r.inputs.add(name="TEXT_IN", datatype="BYTES", shape=[1, 2])
    t.contents.bytes_contents.extend([b"ab", b"c"])
    out.append(r.SerializeToString())
    r = pb.ModelInferRequest(model_name="scale")
    t = r.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 4])
    t.contents.fp32_contents.extend([1, 2, 3, 4])
    o = r.outputs.add(name="OUTPUT0")
    o.parameters["classification"].int64_param = 2
    out.append(r.SerializeToString())
    return out


def _structured(rng: np.random.Generator) -> bytes:
    """A well-formed message with hostile values (huge or negative dims, odd types)."""
    r = pb.ModelInferRequest(model_name=str(rng.choice(["scale", "ints", "strings", "auto"])))
    datatype = str(rng.choice(["FP32", "BYTES", "INT32", "FP64", "BOOL", "UINT8", "XX", ""]))
    dims = [int(d) for d in rng.choice([0, 1, 2, 4, -1, -7, 2**31, 2**40, 2**62], size=2)]
    t = r.inputs.add(name=str(rng.choice(["INPUT0", "A", "TEXT_IN", "nope"])), datatype=datatype)
    t.shape.extend(dims)
    choice = int(rng.integers(4))
    if choice == 0:
        r.raw_input_contents.append(rng.bytes(int(rng.integers(0, 64))))
    elif choice == 1:
        t.contents.bytes_contents.extend([b"x"] * int(rng.integers(0, 4)))
    elif choice == 2:
        t.contents.fp32_contents.extend([1.0] * int(rng.integers(0, 9)))
        r.raw_input_contents.append(b"\0" * 32)  # typed and raw contents together
    if rng.random() < 0.3:
        o = r.outputs.add(name=str(rng.choice(["OUTPUT0", "SUM", "x"])))
        o.parameters["classification"].int64_param = int(rng.choice([-1, 0, 3, 2**40]))
    if rng.random() < 0.2:
        r.parameters["timeout"].int64_param = int(rng.integers(-5, 5))
    return r.SerializeToString()


def _mutate(rng: np.random.Generator, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        kind = int(rng.integers(5))
        pos = int(rng.integers(0, max(1, len(buf))))
        if kind == 0 and buf:
            buf[pos % len(buf)] = int(rng.integers(256))
        elif kind == 1:
            del buf[pos:]
        elif kind == 2:
            buf[pos:pos] = rng.bytes(int(rng.integers(1, 16)))
        elif kind == 3 and buf:
            end = min(len(buf), pos + int(rng.integers(1, 32)))
            buf[pos:pos] = buf[pos:end]
        else:
            buf[pos:pos] = bytes([0xFF] * int(rng.integers(1, 10)))
    return bytes(buf)


def _good(server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    x = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    x.set_data_from_numpy(np.arange(4, dtype=np.float32).reshape(1, 4))
    out = client.infer("scale", [x]).as_numpy("OUTPUT0")
    np.testing.assert_array_equal(out, 2 * np.arange(4, dtype=np.float32).reshape(1, 4))


def test_grpc_fuzz(fuzz_server: InferenceServer) -> None:
    rng = np.random.default_rng(17)
    seeds = _seeds()
    identity: Callable[[bytes], bytes] = lambda b: b
    codes: Counter[str] = Counter()
    internal: list[str] = []
    methods = ["ModelInfer"] * 8 + ["ModelMetadata", "ModelConfig", "ModelStatistics"]
    with grpc.insecure_channel(fuzz_server.grpc_url) as channel:
        for i in range(ROUNDS_GRPC):
            method = str(rng.choice(methods))
            call = channel.unary_unary(
                SERVICE + method, request_serializer=identity, response_deserializer=identity
            )
            pick = int(rng.integers(3))
            if pick == 0:
                body = _mutate(rng, seeds[i % len(seeds)])
            elif pick == 1:
                body = _structured(rng)
            else:
                body = rng.bytes(int(rng.integers(0, 200)))
            try:
                call(body, timeout=10)
                codes["OK"] += 1
            except grpc.RpcError as exc:
                code = exc.code()
                codes[code.name] += 1
                if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    internal.append(f"{method} {body[:80]!r}: {exc.details()}")
    assert internal == [], internal[:5]
    assert sum(codes.values()) == ROUNDS_GRPC
    assert codes["INVALID_ARGUMENT"] > ROUNDS_GRPC // 4
    _good(fuzz_server)


def _http_body(rng: np.random.Generator) -> tuple[str, bytes, dict[str, str]]:
    good = {
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]
    }
    pick = int(rng.integers(4))
    headers = {"Content-Type": "application/json"}
    if pick == 0:
        body = _mutate(rng, json.dumps(good).encode())
    elif pick == 1:
        tensor = {
            "name": str(rng.choice(["INPUT0", "TEXT_IN", "x"])),
            "datatype": str(rng.choice(["FP32", "BYTES", "INT64", "BOOL", "Q"])),
            "shape": [int(d) for d in rng.choice([1, 4, -1, 0, 2**40], size=2)],
            "data": rng.choice(
                np.array([[1, 2, 3, 4], ["a", "b"], [[1], [2]], [], [2**70], None], dtype=object)
            ),
        }
        if rng.random() < 0.3:
            tensor["parameters"] = {"binary_data_size": int(rng.integers(-4, 64))}
        body = json.dumps({"inputs": [tensor]}).encode()
    elif pick == 2:
        header = json.dumps(good).encode()
        length = int(rng.integers(-5, len(header) + 20))
        headers["Inference-Header-Content-Length"] = str(length)
        body = header + rng.bytes(int(rng.integers(0, 40)))
    else:
        body = rng.bytes(int(rng.integers(0, 200)))
    model = str(rng.choice(["scale", "strings", "ints", "nope", "..%2F..", "scale/versions/x"]))
    return f"/v2/models/{model}/infer", body, headers


def test_http_fuzz(fuzz_server: InferenceServer) -> None:
    rng = np.random.default_rng(18)
    host, port = fuzz_server.http_url.rsplit(":", 1)
    statuses: Counter[int] = Counter()
    internal: list[str] = []
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for _ in range(ROUNDS_HTTP):
            path, body, headers = _http_body(rng)
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                text = response.read()
            except (http.client.HTTPException, OSError):
                conn.close()  # the server may close a connection after a malformed request
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                statuses[-1] += 1
                continue
            statuses[response.status] += 1
            if response.status >= 500 and response.status != 503:
                internal.append(f"{path} {body[:80]!r}: {response.status} {text[:200]!r}")
    finally:
        conn.close()
    assert internal == [], internal[:5]
    assert statuses[400] > ROUNDS_HTTP // 4
    assert statuses[-1] < ROUNDS_HTTP // 10
    _good(fuzz_server)
