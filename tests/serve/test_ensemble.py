"""Ensembles: a DeepTau-like layout served unchanged, step DAG checks, errors, statistics."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.utils import InferenceServerException

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.ensemble import parse_steps
from tests.serve.deeptau import CLASSES, FEATURES, GRID, build_deeptau, reference


@pytest.fixture(scope="module")
def deeptau_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_deeptau(
        tmp_path_factory.mktemp("deeptau"),
        core_batching="dynamic_batching { max_queue_delay_microseconds: 50000 }",
    )
    # an ensemble whose second step names a model that is not served
    (root / "broken_ensemble" / "1").mkdir(parents=True)
    (root / "broken_ensemble" / "config.pbtxt").write_text(
        (root / "deeptau_ensemble" / "config.pbtxt")
        .read_text()
        .replace('"deeptau_ensemble"', '"broken_ensemble"')
        .replace('model_name: "deeptau_inner"', 'model_name: "no_such_model"')
    )
    return root


@pytest.fixture(scope="module")
def deeptau_server(deeptau_repo: Path) -> Iterator[InferenceServer]:
    options = ServerOptions([deeptau_repo], grpc_port=0, http_port=0, metrics_port=0)
    with InferenceServer(options) as srv:
        yield srv


def _inputs(batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(batch, FEATURES)).astype(np.float32) * 3,
        rng.normal(size=(batch, *GRID)).astype(np.float32) * 10,
        rng.normal(size=(batch, *GRID)).astype(np.float32) * 10,
    ]


def _infer(
    client: grpcclient.InferenceServerClient, model: str, arrays: list[np.ndarray]
) -> grpcclient.InferResult:
    inputs = []
    for name, a in zip(("tau_raw", "inner_raw", "outer_raw"), arrays, strict=True):
        inp = grpcclient.InferInput(name, list(a.shape), "FP32")
        inp.set_data_from_numpy(a)
        inputs.append(inp)
    return client.infer(model, inputs)


def test_deeptau_ensemble_equals_running_the_steps(
    deeptau_server: InferenceServer, deeptau_repo: Path
) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{deeptau_server.grpc_port}")
    arrays = _inputs(5, seed=7)
    result = _infer(client, "deeptau_ensemble", arrays)
    expected = reference(deeptau_repo, *arrays)
    probs = result.as_numpy("probs")
    assert probs is not None
    assert probs.shape == (5, CLASSES)
    np.testing.assert_array_equal(probs, expected["probs"])
    np.testing.assert_array_equal(result.as_numpy("tau_pre"), expected["tau_pre"])


def test_concurrent_ensemble_requests_batch_in_the_composing_model(
    deeptau_server: InferenceServer, deeptau_repo: Path
) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{deeptau_server.grpc_port}")

    def stats(model: str) -> tuple[int, int]:
        s = client.get_inference_statistics(model).model_stats[0]
        return s.inference_count, s.execution_count

    core_before = stats("deeptau_core")
    ens_before = stats("deeptau_ensemble")
    batches = [_inputs(1, seed=100 + i) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda a: _infer(client, "deeptau_ensemble", a), batches))
    for arrays, result in zip(batches, results, strict=True):
        np.testing.assert_array_equal(
            result.as_numpy("probs"), reference(deeptau_repo, *arrays)["probs"]
        )
    core_after = stats("deeptau_core")
    ens_after = stats("deeptau_ensemble")
    assert core_after[0] - core_before[0] == 6
    # the core model's dynamic batcher (50 ms delay) joined requests of different ensembles
    assert core_after[1] - core_before[1] < 6
    assert ens_after[0] - ens_before[0] == 6
    assert ens_after[1] - ens_before[1] == 6


def test_failing_step_is_named(deeptau_server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{deeptau_server.grpc_port}")
    with pytest.raises(InferenceServerException) as info:
        _infer(client, "broken_ensemble", _inputs(2, seed=1))
    text = str(info.value)
    assert "broken_ensemble" in text
    assert "step 1 (model 'no_such_model')" in text
    # a bad input is refused by the ensemble itself, naming the input
    bad = _inputs(2, seed=1)
    bad[0] = bad[0][:, :3].copy()
    with pytest.raises(InferenceServerException, match="tau_raw"):
        _infer(client, "deeptau_ensemble", bad)
    # and the server keeps serving
    assert _infer(client, "deeptau_ensemble", _inputs(1, seed=2)).as_numpy("probs") is not None


def _config(
    steps: str, outputs: str = 'output [{ name: "y" data_type: TYPE_FP32 dims: [1] }]'
) -> mc.ModelConfig:
    text = (
        'name: "e" platform: "ensemble" max_batch_size: 0 '
        'input [{ name: "x" data_type: TYPE_FP32 dims: [1] }] '
        f"{outputs} ensemble_scheduling {{ {steps} }}"
    )
    return text_format.Parse(text, mc.ModelConfig())


def _step(model: str, ins: dict[str, str], outs: dict[str, str]) -> str:
    maps = "".join(f'input_map {{ key: "{k}" value: "{v}" }} ' for k, v in ins.items())
    maps += "".join(f'output_map {{ key: "{k}" value: "{v}" }} ' for k, v in outs.items())
    return f'step {{ model_name: "{model}" {maps}}} '


def test_parse_steps_accepts_a_dag_in_any_order() -> None:
    steps = parse_steps(
        _config(
            _step("c", {"a": "t1", "b": "t2"}, {"o": "y"})
            + _step("a", {"i": "x"}, {"o": "t1"})
            + _step("b", {"i": "x"}, {"o": "t2"})
        )
    )
    assert [s.model for s in steps] == ["c", "a", "b"]
    assert steps[0].inputs == (("a", "t1"), ("b", "t2"))


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("", "has no step"),
        (
            _step("a", {"i": "t2"}, {"o": "t1"})
            + _step("b", {"i": "t1"}, {"o": "t2"})
            + _step("c", {"i": "x"}, {"o": "y"}),
            "cycle",
        ),
        (_step("a", {"i": "nowhere"}, {"o": "y"}), "'nowhere'"),
        (
            _step("a", {"i": "x"}, {"o": "y"}) + _step("b", {"i": "x"}, {"o": "y"}),
            "written by step 1",
        ),
        (_step("a", {"i": "x"}, {"o": "z"}), "output 'y' is written by no step"),
        (_step("e", {"i": "x"}, {"o": "y"}), "cannot recurse"),
    ],
)
def test_parse_steps_refuses_bad_graphs(steps: str, message: str) -> None:
    with pytest.raises(ServeError, match=message):
        parse_steps(_config(steps))


def test_ensemble_without_declared_tensors_fails_to_load(tmp_path: Path) -> None:
    from hepinfer.serve.repository import load_model

    (tmp_path / "e" / "1").mkdir(parents=True)
    (tmp_path / "e" / "config.pbtxt").write_text('platform: "ensemble"')
    with pytest.raises(ServeError, match="must declare its input and output"):
        load_model(tmp_path / "e")
