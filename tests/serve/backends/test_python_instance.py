"""The inline wait for an instance's answer: what ends it early, and when it is taken."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.serve.backends.python.instance import PyRequest, PythonInstance
from hepinfer.serve.backends.python.served import PythonModel
from tests.serve.backends.pb_models import IDENTITY, IDENTITY_CONFIG, write_python_model

#: answers 50 ms late: long enough that a wait that ended early has visibly not seen it
SLOW = """
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        time.sleep(0.05)
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy() + 1)])
            for r in requests]
"""

Result = tuple[object, object]


def _start(root: Path, name: str, source: str) -> PythonInstance:
    write_python_model(root, name, source, IDENTITY_CONFIG)
    instance = PythonInstance(root / name / "1" / "model.py")
    config = json.dumps({"name": name})
    instance.initialize({"model_config": config, "model_name": name})
    return instance


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PythonInstance]]:
    root = tmp_path_factory.mktemp("pyinst")
    started = {"slow": _start(root, "slow", SLOW), "identity": _start(root, "identity", IDENTITY)}
    yield started
    for instance in started.values():
        instance.close()


def _run(
    instance: PythonInstance, x: np.ndarray, wait_s: float, arrivals: Callable[[], int]
) -> tuple[list[Result], list[Result]]:
    """Submit one request; the results seen when `submit` returned, and in the end."""

    async def scenario() -> tuple[list[Result], list[Result]]:
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()
        results: list[Result] = []

        def done(res: object, exc: object) -> None:
            results.append((res, exc))
            finished.set()

        instance.watch(loop)
        try:
            instance.submit(
                [PyRequest("r", "{}", {"INPUT0": x}, ["OUTPUT0"])],
                done,
                None,
                wait_s,
                arrivals,
            )
            at_return = list(results)
            await asyncio.wait_for(finished.wait(), 30)
        finally:
            instance.unwatch()
        return at_return, results

    return asyncio.run(scenario())


def test_a_new_arrival_ends_the_wait_and_the_answer_comes_through_the_loop(
    instances: dict[str, PythonInstance],
) -> None:
    x = np.arange(4, dtype=np.float32)
    counter = itertools.count()  # moves at every look: a request arrived
    at_return, results = _run(instances["slow"], x, 30.0, lambda: next(counter))
    assert at_return == []  # submit returned before the 50 ms answer
    ((outputs, exc),) = results
    assert exc is None
    assert isinstance(outputs, list)
    np.testing.assert_array_equal(outputs[0]["OUTPUT0"], x + 1)


def test_without_arrivals_the_wait_takes_the_answer_itself(
    instances: dict[str, PythonInstance],
) -> None:
    x = np.arange(4, dtype=np.float32)
    at_return, results = _run(instances["identity"], x, 30.0, lambda: 7)
    assert len(at_return) == 1  # answered inside submit: no trip through the loop
    ((outputs, exc),) = results
    assert exc is None
    assert isinstance(outputs, list)
    np.testing.assert_array_equal(outputs[0]["OUTPUT0"], x)


def _model(inline: str, load: float) -> PythonModel:
    config = mc.ModelConfig(name="m", backend="python")
    config.parameters["execute_inline"].string_value = inline
    model = PythonModel(config, 1, [_NoInstance()], {}, Path("m/1/model.py"), None, None)
    model._loadavg = lambda: (load, load, load)
    return model


class _NoInstance:
    """Stands in for the one instance (the wait policy never runs it)."""

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Never called here."""
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to stop."""


@pytest.mark.parametrize(
    ("inline", "load", "waits"),
    [
        ("auto", 0.0, True),  # idle CPUs: the loop may hold one while the process works
        ("auto", 4.0 * (os.cpu_count() or 1), False),  # CPUs busy: answer through the loop
        ("true", 4.0 * (os.cpu_count() or 1), True),  # asked for: always
    ],
)
def test_the_inline_wait_is_taken_only_with_cpus_to_spare(
    inline: str, load: float, waits: bool
) -> None:
    model = _model(inline, load)
    try:
        assert model._cpu_to_spare() is waits
    finally:
        model.release()
