"""hepinfer firmware backend: a compiled model served bit-exactly through the emulator."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from onnx import TensorProto, helper, numpy_helper
from tritonclient.utils import InferenceServerException

import hepinfer
from hepinfer.compiled import CompiledModel
from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.backends.firmware import FirmwareBackend
from hepinfer.serve.config import parse_config

N_IN, N_HIDDEN, N_OUT = 6, 8, 3
PRECISION = {"Model": {"Precision": "ap_fixed<12,4,AP_RND,AP_SAT>"}}


def _mlp(path: Path) -> None:
    """Features [N, 6] -> Gemm -> Relu -> Gemm -> scores [N, 3]."""
    rng = np.random.default_rng(7)
    x = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", N_IN])
    y = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", N_OUT])
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.7, (N_IN, N_HIDDEN)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.2, N_HIDDEN).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(0, 0.7, (N_HIDDEN, N_OUT)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.normal(0, 0.2, N_OUT).astype(np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["features", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["scores"]),
    ]
    graph = helper.make_graph(nodes, "mlp", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> CompiledModel:
    path = tmp_path_factory.mktemp("onnx") / "mlp.onnx"
    _mlp(path)
    return hepinfer.compile(path, PRECISION)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, compiled: CompiledModel) -> Path:
    root = tmp_path_factory.mktemp("fwrepo")
    compiled.save(root / "jets" / "1" / "model.hepinfer")  # no config.pbtxt: auto-completed
    compiled.save(root / "jets64" / "1" / "model.hepinfer")
    (root / "jets64" / "config.pbtxt").write_text(
        f"""
platform: "hepinfer_firmware"
max_batch_size: 0
input [{{ name: "features" data_type: TYPE_FP32 dims: [-1, {N_IN}] }}]
output [{{ name: "scores" data_type: TYPE_FP64 dims: [-1, {N_OUT}] }}]
"""
    )
    return root


@pytest.fixture(scope="module")
def server(repo: Path) -> Iterator[InferenceServer]:
    options = ServerOptions([repo], grpc_port=0, http_port=0, metrics_port=None)
    with InferenceServer(options) as srv:
        yield srv


def _x(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, (batch, N_IN)).astype(np.float32)


def _expected(compiled: CompiledModel, x: np.ndarray) -> np.ndarray:
    out = compiled.predict(x)
    assert isinstance(out, np.ndarray)
    return out


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def test_grpc_outputs_are_bit_exact_under_dynamic_batching(
    server: InferenceServer, compiled: CompiledModel
) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    batches = [_x(b, seed) for seed, b in enumerate((5, 1, 17, 3, 9))]
    done: queue.Queue[tuple[int, object]] = queue.Queue()
    for i, x in enumerate(batches):  # all in flight at once: the dynamic batcher merges them
        inp = grpcclient.InferInput("features", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        client.async_infer(
            "jets",
            [inp],
            lambda result, error, i=i: done.put((i, result if error is None else error)),
        )
    results = dict(done.get(timeout=10) for _ in batches)
    for i, x in enumerate(batches):
        result = results[i]
        assert isinstance(result, grpcclient.InferResult), result
        got = result.as_numpy("scores")
        want = _expected(compiled, x).astype(np.float32)
        assert got is not None
        assert got.dtype == np.float32
        assert got.shape == (len(x), N_OUT)
        np.testing.assert_array_equal(_bits(got), _bits(want))
    # fixed-point outputs of <= 24 bits are exact in float32: the cast lost nothing
    x = batches[2]
    np.testing.assert_array_equal(
        _expected(compiled, x).astype(np.float32).astype(np.float64), _expected(compiled, x)
    )


def test_http_outputs_are_bit_exact(server: InferenceServer, compiled: CompiledModel) -> None:
    client = httpclient.InferenceServerClient(server.http_url)
    x = _x(12, 42)
    for binary in (True, False):
        inp = httpclient.InferInput("features", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out = httpclient.InferRequestedOutput("scores", binary_data=binary)
        got = client.infer("jets", [inp], outputs=[out]).as_numpy("scores")
        assert got is not None
        want = _expected(compiled, x).astype(np.float32)
        np.testing.assert_array_equal(_bits(got.astype(np.float32)), _bits(want))


def test_fp64_config_without_batching(server: InferenceServer, compiled: CompiledModel) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    x = _x(4, 3)
    inp = grpcclient.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    got = client.infer("jets64", [inp]).as_numpy("scores")
    assert got is not None
    assert got.dtype == np.float64
    np.testing.assert_array_equal(_bits(got), _bits(_expected(compiled, x)))


def test_metadata_and_autocompleted_config(server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    meta = client.get_model_metadata("jets", as_json=True)
    assert meta["platform"] == "hepinfer_firmware"
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("features", "FP32", [str(-1), str(N_IN)])
    ]
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["outputs"]] == [
        ("scores", "FP32", [str(-1), str(N_OUT)])
    ]
    config = client.get_model_config("jets", as_json=True)["config"]
    assert config["max_batch_size"] == 64
    assert "dynamic_batching" in config
    assert config["input"][0]["dims"] == [str(N_IN)]
    http_meta = httpclient.InferenceServerClient(server.http_url).get_model_metadata("jets")
    assert http_meta["outputs"][0]["shape"] == [-1, N_OUT]


def test_bad_shape_is_invalid_argument_and_the_server_keeps_serving(
    server: InferenceServer, compiled: CompiledModel
) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    bad = grpcclient.InferInput("features", [2, N_IN + 1], "FP32")
    bad.set_data_from_numpy(np.zeros((2, N_IN + 1), np.float32))
    with pytest.raises(InferenceServerException) as info:
        client.infer("jets", [bad])
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    x = _x(2, 5)
    good = grpcclient.InferInput("features", list(x.shape), "FP32")
    good.set_data_from_numpy(x)
    got = client.infer("jets", [good]).as_numpy("scores")
    assert got is not None
    np.testing.assert_array_equal(got, _expected(compiled, x).astype(np.float32))
    assert client.is_model_ready("jets")


def test_load_checks_the_config_against_the_graph(repo: Path) -> None:
    path = repo / "jets" / "1" / "model.hepinfer"
    wrong_name = parse_config(
        'name: "m" max_batch_size: 4 input [{ name: "x" data_type: TYPE_FP32 dims: [6] }]', "t"
    )
    with pytest.raises(ServeError, match=r"input 'x' is not a graph input.*features"):
        FirmwareBackend().load(path, wrong_name)
    wrong_type = parse_config(
        'name: "m" max_batch_size: 4 input [{ name: "features" data_type: TYPE_INT32 dims: [6] }]',
        "t",
    )
    with pytest.raises(ServeError, match="TYPE_INT32; the hepinfer backend takes TYPE_FP32"):
        FirmwareBackend().load(path, wrong_type)
    wrong_dims = parse_config(
        'name: "m" max_batch_size: 4 input [{ name: "features" data_type: TYPE_FP32 dims: [5] }]',
        "t",
    )
    with pytest.raises(ServeError, match=r"dims \[5\], but the compiled model's is \[6\]"):
        FirmwareBackend().load(path, wrong_dims)
    with pytest.raises(ServeError, match="cannot load the compiled model"):
        FirmwareBackend().load(repo / "nothing-here", parse_config('name: "m"', "t"))


def test_the_precision_is_not_trivial(compiled: CompiledModel) -> None:
    x = _x(64, 11)
    fixed, ref = _expected(compiled, x), compiled.predict(x, mode="float")
    assert isinstance(ref, np.ndarray)
    assert not np.array_equal(fixed, ref)  # so the served values are the firmware's, not float's
    np.testing.assert_array_equal(fixed * 2**8, np.round(fixed * 2**8))  # 8 fractional bits


def test_wide_fp32_outputs_are_flagged(
    tmp_path: Path, compiled: CompiledModel, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mlp.onnx"
    _mlp(path)
    wide = hepinfer.compile(path, {"Model": {"Precision": "ap_fixed<32,8>"}})
    wide.save(tmp_path / "model.hepinfer")
    config = parse_config('name: "w"', "t")
    FirmwareBackend().autocomplete(tmp_path / "model.hepinfer", config)
    with caplog.at_level("WARNING", logger="hepinfer.serve.backends.firmware"):
        instance = FirmwareBackend().load(tmp_path / "model.hepinfer", config)
    assert "declare it TYPE_FP64" in caplog.text
    x = _x(3, 1)
    out = instance.run({"features": x}, ["scores"])["scores"]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.asarray(wide.predict(x)).astype(np.float32))
    instance.close()
