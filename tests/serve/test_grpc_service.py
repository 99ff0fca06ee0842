"""Every RPC of inference.GRPCInferenceService, driven by tritonclient.grpc and grpc.aio."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.native.conftest import require_native


@pytest.fixture(scope="module", params=["native", "aio"])
def server(request: pytest.FixtureRequest, model_repo: Path) -> Iterator[InferenceServer]:
    """The same server with each gRPC front end: every test here runs against both."""
    if request.param == "native":
        require_native()
    options = ServerOptions(
        [model_repo],
        grpc_port=0,
        http_port=0,
        metrics_port=0,
        enable_shm=True,
        grpc_frontend=request.param,
        model_control_mode="explicit",  # the tests load and unload models
        load_models=("*",),
        exit_on_error=False,  # the repository has a broken model on purpose
    )
    with InferenceServer(options) as srv:
        assert srv.grpc_frontend == request.param
        yield srv


@pytest.fixture(scope="module")
def client(server: InferenceServer) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(server.grpc_url)


def _scale_input(batch: int, seed: int = 0) -> tuple[grpcclient.InferInput, np.ndarray]:
    data = np.random.default_rng(seed).normal(size=(batch, 4)).astype(np.float32)
    inp = grpcclient.InferInput("INPUT0", list(data.shape), "FP32")
    inp.set_data_from_numpy(data)
    return inp, data


def test_health_and_metadata(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert not client.is_server_ready()  # strict readiness: model 'broken' failed to load
    assert client.is_model_ready("scale")
    assert client.is_model_ready("versioned", "3")
    assert not client.is_model_ready("versioned", "1")  # outside the latest-2 policy
    assert not client.is_model_ready("broken")
    assert not client.is_model_ready("nope")
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "hepinfer"
    assert "model_repository" in meta["extensions"]


def test_model_metadata_and_config(client: grpcclient.InferenceServerClient) -> None:
    meta = client.get_model_metadata("scale", as_json=True)
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": ["-1", "4"]}]
    assert [o["name"] for o in meta["outputs"]] == ["OUTPUT0", "OUTPUT1"]
    ints = client.get_model_metadata("ints", as_json=True)
    assert ints["inputs"][0]["shape"] == ["-1"]  # max_batch_size 0: no batch dimension
    assert client.get_model_metadata("versioned", as_json=True)["versions"] == ["2", "3"]
    config = client.get_model_config("scale").config
    assert config.max_batch_size == 8
    assert list(config.dynamic_batching.preferred_batch_size) == [4]
    assert config.output[0].label_filename == "labels.txt"
    auto = client.get_model_config("auto").config  # auto-completed from the ONNX file
    assert [i.name for i in auto.input] == ["INPUT0"]
    assert list(auto.input[0].dims) == [3]


def test_infer_raw(client: grpcclient.InferenceServerClient) -> None:
    inp, data = _scale_input(3)
    result = client.infer("scale", [inp], request_id="abc")
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 2 * data)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), data + 1)
    response = result.get_response()
    assert response.id == "abc"
    assert response.model_version == "1"


def test_infer_requested_output_and_version(client: grpcclient.InferenceServerClient) -> None:
    inp, data = _scale_input(2)
    out = [grpcclient.InferRequestedOutput("OUTPUT0")]
    for version, factor in (("", 3.0), ("2", 2.0), ("3", 3.0)):
        result = client.infer("versioned", [inp], model_version=version, outputs=out)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), factor * data)
        assert result.as_numpy("OUTPUT1") is None


def test_infer_no_batching_ints_and_compression(client: grpcclient.InferenceServerClient) -> None:
    a = np.arange(7, dtype=np.int32)
    b = np.full(7, 3, dtype=np.int32)
    inputs = [grpcclient.InferInput("A", [7], "INT32"), grpcclient.InferInput("B", [7], "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    for algorithm in (None, "gzip", "deflate"):
        result = client.infer("ints", inputs, compression_algorithm=algorithm)
        np.testing.assert_array_equal(result.as_numpy("SUM"), a + b)
        np.testing.assert_array_equal(result.as_numpy("DIFF"), a - b)


def test_infer_typed_contents(client: grpcclient.InferenceServerClient) -> None:
    """A request with InferTensorContents (not raw bytes), sent through the raw stub."""
    from tritonclient.grpc import service_pb2 as pb

    request = pb.ModelInferRequest(model_name="ints")
    for name, values in (("A", [1, 2, 3]), ("B", [10, 20, 30])):
        tensor = request.inputs.add(name=name, datatype="INT32", shape=[3])
        tensor.contents.int_contents.extend(values)
    response = client._client_stub.ModelInfer(request)
    outputs = {o.name: i for i, o in enumerate(response.outputs)}
    sums = np.frombuffer(response.raw_output_contents[outputs["SUM"]], np.int32)
    np.testing.assert_array_equal(sums, [11, 22, 33])


def test_infer_bytes(client: grpcclient.InferenceServerClient) -> None:
    data = np.array([[b"hep", b"infer"], [b"", "\u00fcnicode".encode()]], dtype=np.object_)
    inp = grpcclient.InferInput("TEXT_IN", [2, 2], "BYTES")
    inp.set_data_from_numpy(data)
    result = client.infer("strings", [inp])
    np.testing.assert_array_equal(result.as_numpy("TEXT_OUT"), data)


def test_classification_uses_labels(client: grpcclient.InferenceServerClient) -> None:
    data = np.array([[0.0, 1.0, 3.0, 2.0]], dtype=np.float32)
    inp = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    inp.set_data_from_numpy(data)
    out = grpcclient.InferRequestedOutput("OUTPUT0", class_count=2)
    result = client.infer("scale", [inp], outputs=[out]).as_numpy("OUTPUT0")
    assert result.shape == (1, 2)
    assert [v.decode() for v in result[0]] == ["6.000000:2:gamma", "4.000000:3:delta"]


def test_dynamic_batching_combines_requests(client: grpcclient.InferenceServerClient) -> None:
    before = client.get_inference_statistics("scale", as_json=True)["model_stats"][0]
    n = 12
    with ThreadPoolExecutor(n) as pool:
        futures = []
        for i in range(n):
            inp, data = _scale_input(1, seed=i)
            futures.append((pool.submit(client.infer, "scale", [inp]), data))
        for fut, data in futures:
            np.testing.assert_array_equal(fut.result().as_numpy("OUTPUT0"), 2 * data)
    after = client.get_inference_statistics("scale", as_json=True)["model_stats"][0]
    inferences = int(after["inference_count"]) - int(before.get("inference_count", 0))
    executions = int(after["execution_count"]) - int(before.get("execution_count", 0))
    assert inferences == n
    assert executions < n  # the 10 ms queue delay gathers requests into batches
    sizes = {int(b["batch_size"]) for b in after["batch_stats"]}
    assert max(sizes) > 1


def test_statistics(client: grpcclient.InferenceServerClient) -> None:
    inp, _ = _scale_input(2)
    client.infer("scale", [inp])
    stats = client.get_inference_statistics("scale", as_json=True)["model_stats"]
    assert len(stats) == 1
    s = stats[0]
    assert s["name"] == "scale"
    assert s["version"] == "1"
    infer = s["inference_stats"]
    for key in ("success", "queue", "compute_input", "compute_infer", "compute_output"):
        assert int(infer[key]["count"]) >= 1
        assert int(infer[key]["ns"]) > 0
    assert int(s["last_inference"]) > 0
    everything = client.get_inference_statistics(as_json=True)["model_stats"]
    assert {m["name"] for m in everything} >= {"scale", "ints", "versioned", "strings", "auto"}
    assert len(client.get_inference_statistics("versioned", as_json=True)["model_stats"]) == 2


def test_stream_infer(client: grpcclient.InferenceServerClient) -> None:
    results: queue.Queue[tuple[Any, Any]] = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    try:
        sent = {}
        for i in range(5):
            inp, data = _scale_input(1, seed=i)
            client.async_stream_infer("scale", [inp], request_id=str(i))
            sent[str(i)] = data
        bad = grpcclient.InferInput("WRONG", [1, 4], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 4), np.float32))
        client.async_stream_infer("scale", [bad], request_id="bad")
        got = [results.get(timeout=10) for _ in range(6)]
    finally:
        client.stop_stream()
    errors = [e for r, e in got if e is not None]
    assert len(errors) == 1
    assert "unexpected inference input 'WRONG'" in str(errors[0])
    for result, error in got:
        if error is None:
            rid = result.get_response().id
            np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 2 * sent[rid])


def test_repository_index_load_unload(server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    index = client.get_model_repository_index(as_json=True)["models"]
    states = {(m["name"], m.get("version", "")): m["state"] for m in index}
    assert states[("scale", "1")] == "READY"
    assert states[("broken", "")] == "UNAVAILABLE"
    broken = next(m for m in index if m["name"] == "broken")
    assert "onnxruntime cannot load" in broken["reason"]
    client.unload_model("ints")
    assert not client.is_model_ready("ints")
    with pytest.raises(InferenceServerException, match="has no available versions") as exc:
        client.get_model_metadata("ints")
    assert exc.value.status() == "StatusCode.UNAVAILABLE"
    client.load_model("ints")
    assert client.is_model_ready("ints")
    with pytest.raises(InferenceServerException, match="onnxruntime cannot load") as exc:
        client.load_model("broken")
    with pytest.raises(InferenceServerException, match="failed to poll"):
        client.load_model("not_there")
    assert client.is_model_ready("scale")


def test_shared_memory(client: grpcclient.InferenceServerClient) -> None:
    import tritonclient.utils.shared_memory as shm

    data = np.arange(8, dtype=np.float32).reshape(2, 4)
    nbytes = data.nbytes
    key = f"/hepinfer_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    in_handle = shm.create_shared_memory_region("in_region", key + "_in", nbytes)
    out_handle = shm.create_shared_memory_region("out_region", key + "_out", nbytes)
    try:
        shm.set_shared_memory_region(in_handle, [data])
        client.register_system_shared_memory("in_region", key + "_in", nbytes)
        client.register_system_shared_memory("out_region", key + "_out", nbytes)
        status = client.get_system_shared_memory_status(as_json=True)["regions"]
        assert set(status) == {"in_region", "out_region"}
        inp = grpcclient.InferInput("INPUT0", [2, 4], "FP32")
        inp.set_shared_memory("in_region", nbytes)
        out = grpcclient.InferRequestedOutput("OUTPUT0")
        out.set_shared_memory("out_region", nbytes)
        result = client.infer("scale", [inp], outputs=[out])
        assert result.get_output("OUTPUT0") is not None
        got = shm.get_contents_as_numpy(out_handle, np.float32, [2, 4])
        np.testing.assert_array_equal(got, 2 * data)
        client.unregister_system_shared_memory()
        assert client.get_system_shared_memory_status(as_json=True).get("regions", {}) == {}
    finally:
        shm.destroy_shared_memory_region(in_handle)
        shm.destroy_shared_memory_region(out_handle)


def test_aio_client(server: InferenceServer) -> None:
    async def main() -> None:
        client = aioclient.InferenceServerClient(server.grpc_url)
        try:
            assert await client.is_server_live()
            assert await client.is_model_ready("scale")
            meta = await client.get_model_metadata("scale", as_json=True)
            assert meta["name"] == "scale"
            calls = []
            datas = []
            for i in range(8):
                data = np.full((1, 4), i, np.float32)
                inp = aioclient.InferInput("INPUT0", [1, 4], "FP32")
                inp.set_data_from_numpy(data)
                calls.append(client.infer("scale", [inp]))
                datas.append(data)
            results = await asyncio.gather(*calls)
            for result, data in zip(results, datas, strict=True):
                np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 2 * data)

            async def requests() -> Any:
                for i in range(3):
                    inp = aioclient.InferInput("INPUT0", [1, 4], "FP32")
                    inp.set_data_from_numpy(np.full((1, 4), i, np.float32))
                    yield {"model_name": "scale", "inputs": [inp], "request_id": str(i)}

            seen = set()
            async for result, error in client.stream_infer(requests()):
                assert error is None
                seen.add(result.get_response().id)
                if len(seen) == 3:
                    break
            assert seen == {"0", "1", "2"}
        finally:
            await client.close()

    asyncio.run(main())


def test_unknown_model_and_version_errors(client: grpcclient.InferenceServerClient) -> None:
    inp, _ = _scale_input(1)
    with pytest.raises(InferenceServerException, match="Request for unknown model: 'nope'") as e:
        client.infer("nope", [inp])
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    with pytest.raises(InferenceServerException, match="version 7 is not found") as e:
        client.infer("versioned", [inp], model_version="7")
    assert e.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException, match="is not found"):
        client.get_model_config("nope")


def _tripler_files(tmp: Path) -> dict[str, bytes]:
    from tests.serve.models import scale_model

    scale_model(tmp / "m.onnx", 3.0)
    return {"file:1/model.onnx": (tmp / "m.onnx").read_bytes()}


TRIPLER_CONFIG = json.dumps(
    {
        "name": "tripler",
        "platform": "onnxruntime_onnx",
        "max_batch_size": 8,
        "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
        "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
    }
)


def test_load_with_config_and_files(server: InferenceServer, tmp_path: Path) -> None:
    """RepositoryModelLoad with Triton's 'config' and 'file:' parameters."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    name = f"tripler{uuid.uuid4().hex[:6]}"
    config = TRIPLER_CONFIG.replace('"tripler"', f'"{name}"')
    client.load_model(name, config=config, files=_tripler_files(tmp_path))
    inp, data = _scale_input(2)
    out = client.infer(name, [inp]).as_numpy("OUTPUT0")
    np.testing.assert_allclose(out, 3 * data, rtol=1e-6)
    assert client.get_model_config(name, as_json=True)["config"]["max_batch_size"] == 8
    # override an existing model's configuration, then go back to its config.pbtxt
    override = json.dumps({"name": "ints", "max_batch_size": 0, "platform": "onnxruntime_onnx"})
    client.load_model("ints", config=override)
    assert client.is_model_ready("ints")
    client.load_model("ints")
    assert client.is_model_ready("ints")
    client.unload_model(name)


@pytest.mark.parametrize(
    ("config", "files", "words"),
    [
        (None, {"file:1/model.onnx": b"x"}, "model files given without a 'config'"),
        ("{not json", None, "not a valid Triton model configuration in JSON"),
        (TRIPLER_CONFIG, {"file:../../evil.onnx": b"x"}, "leaves the model folder"),
    ],
)
def test_load_override_errors(
    server: InferenceServer, config: str | None, files: dict[str, bytes] | None, words: str
) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    with pytest.raises(InferenceServerException, match=words):
        client.load_model("ints", config=config, files=files)
    client.load_model("ints")  # from its folder again
    assert client.is_model_ready("ints")
