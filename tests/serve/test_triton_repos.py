"""The real Triton repositories in ../shared/data/triton-repos, served unchanged.

Every ONNX and TorchScript model answers, and its outputs equal a direct onnxruntime / torch
call on the same inputs; the TensorFlow model is UNAVAILABLE with a clear reason when
TensorFlow is not installed.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient

from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.config import load_config

REPOS = ("sonic-models", "coffea-test", "cms-sonictriton-test")
VARIABLE = 20  # size used for every variable (-1) dimension
BATCH = 2


@pytest.fixture(scope="module")
def repos(shared_data: Path) -> list[Path]:
    return [shared_data / "triton-repos" / r for r in REPOS]


@pytest.fixture(scope="module")
def real_server(repos: list[Path]) -> Iterator[InferenceServer]:
    # deepmet needs the optional tensorflow: the others are served without it
    options = ServerOptions(
        repos, grpc_port=0, http_port=None, metrics_port=None, exit_on_error=False
    )
    with InferenceServer(options) as srv:
        yield srv


def _inputs(model_dir: Path) -> dict[str, np.ndarray]:
    config, _, _ = load_config(model_dir)
    rng = np.random.default_rng(1)
    arrays = {}
    for t in config.input:
        dims = [VARIABLE if d == -1 else d for d in t.dims]
        shape = [BATCH, *dims] if config.max_batch_size > 0 else dims
        data = rng.normal(size=shape).astype(np.float32)
        if "mask" in t.name:
            data = np.ones(shape, np.float32)
        arrays[t.name] = data
    return arrays


def _infer(
    server: InferenceServer, name: str, arrays: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    inputs = []
    for key, value in arrays.items():
        inp = grpcclient.InferInput(key, list(value.shape), "FP32")
        inp.set_data_from_numpy(value)
        inputs.append(inp)
    result = client.infer(name, inputs)
    response = result.get_response()
    return {o.name: result.as_numpy(o.name) for o in response.outputs}


@pytest.mark.parametrize(
    ("repo", "name"),
    [("sonic-models", "particlenet"), ("sonic-models", "particlenet_AK4")],
)
def test_onnx_models_match_onnxruntime(
    real_server: InferenceServer, shared_data: Path, repo: str, name: str
) -> None:
    model_dir = shared_data / "triton-repos" / repo / name
    arrays = _inputs(model_dir)
    got = _infer(real_server, name, arrays)
    session = ort.InferenceSession(str(model_dir / "1" / "model.onnx"))
    names = [o.name for o in session.get_outputs()]
    want = dict(zip(names, session.run(names, arrays), strict=True))
    assert set(got) == set(want)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6)
    assert got["softmax"].shape[0] == BATCH


@pytest.mark.parametrize(
    ("repo", "name"),
    [("sonic-models", "particlenet_AK4_PT"), ("coffea-test", "pn_test")],
)
def test_torchscript_models_match_torch(
    real_server: InferenceServer, shared_data: Path, repo: str, name: str
) -> None:
    torch = pytest.importorskip("torch")
    model_dir = shared_data / "triton-repos" / repo / name
    arrays = _inputs(model_dir)
    got = _infer(real_server, name, arrays)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated")
        module = torch.jit.load(str(model_dir / "1" / "model.pt"), map_location="cpu").eval()
    order = sorted(arrays, key=lambda n: int(m.group(1)) if (m := re.search(r"__(\d+)$", n)) else 0)
    with torch.inference_mode():
        want = module(*[torch.from_numpy(arrays[n]) for n in order])
    (out_name,) = got
    np.testing.assert_allclose(got[out_name], want.numpy(), rtol=1e-5, atol=1e-6)


def test_ragged_batching(real_server: InferenceServer) -> None:
    """ragged_io: requests of different lengths are batched flat and scattered back."""
    client = grpcclient.InferenceServerClient(real_server.grpc_url)
    datas = [np.arange(n, dtype=np.float32)[None, :] + 100 * n for n in (1, 3, 5, 7)]

    def one(data: np.ndarray) -> np.ndarray:
        inp = grpcclient.InferInput("INPUT0", list(data.shape), "FP32")
        inp.set_data_from_numpy(data)
        return client.infer("ragged_io", [inp]).as_numpy("OUTPUT0")

    # max_batch_size 4 and a 1 s queue delay: four requests fill one batch at once
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, datas))
    for got, data in zip(results, datas, strict=True):
        np.testing.assert_array_equal(got, data)
    stats = client.get_inference_statistics("ragged_io", as_json=True)["model_stats"][0]
    assert int(stats["inference_count"]) == 4


def test_tensorflow_model_state(real_server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(real_server.grpc_url)
    index = {m["name"]: m for m in client.get_model_repository_index(as_json=True)["models"]}
    try:
        import tensorflow as tf  # noqa: F401
    except ImportError:
        assert index["deepmet"]["state"] == "UNAVAILABLE"
        assert "pip install 'hepinfer[tf]'" in index["deepmet"]["reason"]
    else:
        assert index["deepmet"]["state"] == "READY"
    for name in ("particlenet", "particlenet_AK4", "particlenet_AK4_PT", "pn_test", "ragged_io"):
        assert index[name]["state"] == "READY"


def test_tensorflow_graphdef_matches_tensorflow(
    real_server: InferenceServer, shared_data: Path
) -> None:
    """Deepmet (graphdef, version_policy all): both versions answer like TensorFlow itself."""
    tf = pytest.importorskip("tensorflow")
    model_dir = shared_data / "triton-repos" / "sonic-models" / "deepmet"
    arrays = _inputs(model_dir)
    for name in arrays:
        if name.startswith("input_cat"):
            arrays[name] = np.zeros_like(arrays[name])  # category indices
    client = grpcclient.InferenceServerClient(real_server.grpc_url)
    assert client.get_model_metadata("deepmet", as_json=True)["versions"] == ["1", "2"]
    for version in ("1", "2"):
        inputs = []
        for key, value in arrays.items():
            inp = grpcclient.InferInput(key, list(value.shape), "FP32")
            inp.set_data_from_numpy(value)
            inputs.append(inp)
        got = client.infer("deepmet", inputs, model_version=version).as_numpy("output/BiasAdd")
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString((model_dir / version / "model.graphdef").read_bytes())
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            want = session.run("output/BiasAdd:0", {f"{k}:0": v for k, v in arrays.items()})
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
