"""The python backend: Triton ``model.py`` files served unchanged, through the real client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer, ServerOptions
from tests.serve.backends.pb_models import (
    IDENTITY,
    IDENTITY_CONFIG,
    write_all_apis_repository,
    write_python_model,
)

#: returns its process id, its initialize args and whether its input is a view of shared memory
INSPECT = """
import json
import mmap
import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.args = args

    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
            base = x
            while isinstance(base, np.ndarray) and base.base is not None:
                base = base.base
            info = {
                "pid": os.getpid(),
                "args": self.args,
                "shared": isinstance(base, mmap.mmap),
                "batch": len(requests),
                "outputs": sorted(r.requested_output_names()),
                "request_id": r.request_id(),
                "parameters": json.loads(r.parameters()),
            }
            text = np.array([json.dumps(info).encode()], dtype=np.object_)
            out.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("INFO", text), pb_utils.Tensor("OUTPUT0", x + 1)]))
        return out
"""

INSPECT_CONFIG = """
backend: "python"
max_batch_size: 0
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [-1] }]
output [{ name: "INFO" data_type: TYPE_STRING dims: [1] },
        { name: "OUTPUT0" data_type: TYPE_FP32 dims: [-1] }]
instance_group [{ count: 2 kind: KIND_CPU }]
"""

RAISES = """
class TritonPythonModel:
    def execute(self, requests):
        raise ValueError("the model is out of order")
"""

SLOW = """
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        time.sleep(0.05)
        return [pb_utils.InferenceResponse([
            pb_utils.Tensor("OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
                            * 0 + len(requests))]) for r in requests]
"""

CRASHES = """
import os


class TritonPythonModel:
    def execute(self, requests):
        os._exit(3)
"""

FINALIZE = """
import os

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.marker = os.path.join(args["model_repository"], "finalized")

    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())]) for r in requests]

    def finalize(self):
        with open(self.marker, "w") as f:
            f.write("done")
"""


@pytest.fixture(scope="module")
def pb_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = write_all_apis_repository(tmp_path_factory.mktemp("pbrepo"))
    write_python_model(repo, "inspect", INSPECT, INSPECT_CONFIG)
    write_python_model(repo, "raises", RAISES, IDENTITY_CONFIG)
    write_python_model(repo, "finalize", FINALIZE, IDENTITY_CONFIG)
    write_python_model(repo, "crashes", CRASHES, IDENTITY_CONFIG)
    write_python_model(repo, "slow", SLOW, IDENTITY_CONFIG)
    one_at_a_time = 'parameters { key: "execute_max_requests" value: { string_value: "1" } }'
    write_python_model(repo, "slow_single", SLOW, IDENTITY_CONFIG + one_at_a_time)
    write_python_model(repo, "identity", IDENTITY, IDENTITY_CONFIG)
    write_python_model(repo, "syntax_error", "class TritonPythonModel(:\n", IDENTITY_CONFIG)
    write_python_model(
        repo,
        "decoupled",
        IDENTITY,
        IDENTITY_CONFIG + "model_transaction_policy { decoupled: true }",
    )
    return repo


@pytest.fixture(scope="module")
def pb_server(pb_repo: Path) -> Iterator[InferenceServer]:
    options = ServerOptions(
        [pb_repo],
        grpc_port=0,
        http_port=0,
        metrics_port=0,
        exit_on_error=False,  # the repository holds models that fail to load on purpose
        model_control_mode="explicit",  # test_unload_runs_finalize unloads a model
        load_models=("*",),
    )
    with InferenceServer(options) as srv:
        yield srv


@pytest.fixture
def client(pb_server: InferenceServer) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(f"127.0.0.1:{pb_server.grpc_port}")


def _input(name: str, array: np.ndarray) -> grpcclient.InferInput:
    inp = grpcclient.InferInput(name, list(array.shape), "FP32")
    inp.set_data_from_numpy(array)
    return inp


def expected_all_apis(x: np.ndarray) -> dict[str, np.ndarray]:
    """What ``pb_all`` computes: BLS doubles, then adds x; x squared in FP64; a text row."""
    return {
        "OUTPUT0": (2 * x + x).astype(np.float32),
        "OUTPUT1": x.astype(np.float64) ** 2,
        "OUTPUT2": np.array([[f"pb_all/1/CPU:{row.sum():.3f}".encode()] for row in x], np.object_),
    }


def test_all_apis_model_runs_unchanged(client: grpcclient.InferenceServerClient) -> None:
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    result = client.infer("pb_all", [_input("INPUT0", x)])
    for name, want in expected_all_apis(x).items():
        np.testing.assert_array_equal(result.as_numpy(name), want)


def test_auto_complete_config_fills_the_configuration(
    client: grpcclient.InferenceServerClient,
) -> None:
    config = client.get_model_config("pb_all").config
    assert config.max_batch_size == 8
    assert config.HasField("dynamic_batching")
    assert [t.name for t in config.input] == ["INPUT0"]
    assert [t.name for t in config.output] == ["OUTPUT0", "OUTPUT1", "OUTPUT2"]
    assert config.parameters["bls_model"].string_value == "pb_scale"


def test_concurrent_requests_each_get_their_answer(
    client: grpcclient.InferenceServerClient,
) -> None:
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(1 + i % 3, 4)).astype(np.float32) for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda x: client.infer("pb_all", [_input("INPUT0", x)]), xs))
    for x, result in zip(xs, results, strict=True):
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), expected_all_apis(x)["OUTPUT0"])


def test_an_error_response_fails_only_its_request(
    client: grpcclient.InferenceServerClient,
) -> None:
    bad = np.full((1, 4), -5000.0, np.float32)
    good = np.ones((2, 4), np.float32)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(client.infer, "pb_all", [_input("INPUT0", a)]) for a in (bad, good)]
        with pytest.raises(InferenceServerException, match="INPUT0 has values below -1000"):
            futures[0].result()
        np.testing.assert_array_equal(futures[1].result().as_numpy("OUTPUT0"), 3 * good)


def test_instances_are_processes_with_triton_args_and_shared_inputs(
    client: grpcclient.InferenceServerClient, pb_repo: Path
) -> None:
    infos = []
    x = np.arange(5, dtype=np.float32)
    with ThreadPoolExecutor(4) as pool:
        for result in pool.map(
            lambda i: client.infer("inspect", [_input("INPUT0", x)], request_id=f"r{i}"), range(16)
        ):
            infos.append(json.loads(result.as_numpy("INFO")[0]))
            np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), x + 1)
    pids = {i["pid"] for i in infos}
    assert len(pids) == 2  # instance_group count 2: two processes
    assert os.getpid() not in pids
    assert all(i["shared"] for i in infos)  # as_numpy() views the shared-memory arena
    assert {i["request_id"] for i in infos} == {f"r{i}" for i in range(16)}
    args = infos[0]["args"]
    assert set(args) == {
        "model_config",
        "model_instance_kind",
        "model_instance_name",
        "model_instance_device_id",
        "model_repository",
        "model_version",
        "model_name",
    }
    assert args["model_name"] == "inspect"
    assert args["model_version"] == "1"
    assert Path(args["model_repository"]) == (pb_repo / "inspect").resolve()
    config = json.loads(args["model_config"])
    assert config["name"] == "inspect"
    assert config["input"][0]["dims"] == [-1]
    assert config["output"][0]["data_type"] == "TYPE_STRING"


def test_requested_outputs_reach_execute(client: grpcclient.InferenceServerClient) -> None:
    x = np.arange(3, dtype=np.float32)
    result = client.infer(
        "inspect", [_input("INPUT0", x)], outputs=[grpcclient.InferRequestedOutput("INFO")]
    )
    assert json.loads(result.as_numpy("INFO")[0])["outputs"] == ["INFO"]
    assert result.as_numpy("OUTPUT0") is None


def test_request_parameters_reach_execute_with_their_types(
    client: grpcclient.InferenceServerClient,
) -> None:
    x = np.arange(3, dtype=np.float32)
    sent = {"flag": True, "count": 7, "label": "jets", "scale": 0.5}
    result = client.infer("inspect", [_input("INPUT0", x)], parameters=sent)
    assert json.loads(result.as_numpy("INFO")[0])["parameters"] == sent
    result = client.infer("inspect", [_input("INPUT0", x)])
    assert json.loads(result.as_numpy("INFO")[0])["parameters"] == {}


def test_a_raising_model_reports_the_exception(client: grpcclient.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="the model is out of order"):
        client.infer("raises", [_input("INPUT0", np.ones(2, np.float32))])
    np.testing.assert_array_equal(
        client.infer("identity", [_input("INPUT0", np.ones(2, np.float32))]).as_numpy("OUTPUT0"),
        np.ones(2, np.float32),
    )


@pytest.mark.parametrize(("model", "grouped"), [("slow", True), ("slow_single", False)])
def test_waiting_requests_of_an_unbatched_model_share_an_execute_call(
    client: grpcclient.InferenceServerClient, model: str, grouped: bool
) -> None:
    xs = [np.arange(i + 1, dtype=np.float32) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda x: client.infer(model, [_input("INPUT0", x)]), xs))
    sizes = []
    for x, result in zip(xs, results, strict=True):
        out = result.as_numpy("OUTPUT0")
        assert out.shape == x.shape  # each request got its own answer
        sizes.append(int(out[0]))
    assert (max(sizes) > 1) == grouped


def test_a_crashing_instance_process_fails_its_requests(
    client: grpcclient.InferenceServerClient,
) -> None:
    one = [_input("INPUT0", np.ones(2, np.float32))]
    with pytest.raises(InferenceServerException, match="exited with code 3"):
        client.infer("crashes", one)
    # the process is started again: the next request reaches a new one (which crashes too)
    with pytest.raises(InferenceServerException, match="exited with code 3"):
        client.infer("crashes", one, client_timeout=60)
    np.testing.assert_array_equal(client.infer("identity", one).as_numpy("OUTPUT0"), np.ones(2))


def test_a_model_that_does_not_import_is_unavailable_with_the_reason(
    client: grpcclient.InferenceServerClient,
) -> None:
    assert not client.is_model_ready("syntax_error")
    index = {m.name: m for m in client.get_model_repository_index().models}
    assert "SyntaxError" in index["syntax_error"].reason


def test_decoupled_models_refuse_model_infer_with_the_reason(
    client: grpcclient.InferenceServerClient,
) -> None:
    assert client.is_model_ready("decoupled")
    with pytest.raises(InferenceServerException, match="decoupled transaction policy"):
        client.infer("decoupled", [_input("INPUT0", np.ones(2, np.float32))])


def test_unload_runs_finalize(client: grpcclient.InferenceServerClient, pb_repo: Path) -> None:
    marker = pb_repo / "finalize" / "finalized"
    assert client.is_model_ready("finalize")
    assert not marker.exists()
    client.unload_model("finalize")
    assert marker.read_text() == "done"


def test_large_and_string_tensors(client: grpcclient.InferenceServerClient) -> None:
    big = np.random.default_rng(2).normal(size=3_000_000).astype(np.float32)  # 12 MB
    result = client.infer("identity", [_input("INPUT0", big)])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), big)
