"""The inline wait for an instance's answer: what ends it early, and when it is taken."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import select
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.serve.arrivals import loop_fd
from hepinfer.serve.backends.python import instance as instance_module
from hepinfer.serve.backends.python.instance import PyRequest, PythonInstance
from hepinfer.serve.backends.python.served import SKIP_WAITS, PythonModel
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
    instance: PythonInstance,
    x: np.ndarray,
    wait_s: float,
    arrivals: Callable[[], int] | None,
    sleep: bool = False,
    other_work: bool = False,
) -> tuple[list[Result], list[Result]]:
    """Submit one request; the results seen when `submit` returned, and in the end.

    `sleep`: the wait sleeps on the loop's descriptor; `other_work`: a socket the loop
    watches is readable while the request is submitted.
    """

    async def scenario() -> tuple[list[Result], list[Result]]:
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()
        results: list[Result] = []

        def done(res: object, exc: object) -> None:
            results.append((res, exc))
            finished.set()

        instance.watch(loop)
        await asyncio.sleep(0)  # one loop iteration: the loop now polls the process's socket
        ours, theirs = socket.socketpair()
        seen: list[bytes] = []
        loop.add_reader(ours.fileno(), lambda: seen.append(ours.recv(1)))
        if other_work:
            theirs.send(b"x")
        try:
            instance.submit(
                [PyRequest("r", "{}", {"INPUT0": x}, ["OUTPUT0"])],
                done,
                None,
                wait_s,
                arrivals,
                loop_fd(loop) if sleep else None,
            )
            at_return = list(results)
            await asyncio.wait_for(finished.wait(), 30)
        finally:
            loop.remove_reader(ours.fileno())
            ours.close()
            theirs.close()
            instance.unwatch()
        assert seen == ([b"x"] if other_work else [])  # the other work was done too
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


@pytest.mark.parametrize("use_uvloop", [False, True])
def test_the_sleeping_wait_takes_the_answer_itself(
    instances: dict[str, PythonInstance], use_uvloop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(instance_module, "BLOCK_MS", 10_000)  # a loaded machine's wake-ups
    x = np.arange(4, dtype=np.float32)
    if use_uvloop:
        uvloop = pytest.importorskip("uvloop")
        monkeypatch.setattr(asyncio.events, "_event_loop_policy", uvloop.EventLoopPolicy())
    at_return, results = _run(instances["slow"], x, 1e-6, None, sleep=True)
    # the 50 ms answer taken inside submit: the wait slept on the loop's descriptor for up
    # to BLOCK_MS (wait_s bounds only the spinning wait)
    assert len(at_return) == 1
    ((outputs, exc),) = results
    assert exc is None
    assert isinstance(outputs, list)
    np.testing.assert_array_equal(outputs[0]["OUTPUT0"], x + 1)


@pytest.mark.parametrize(("block_ms", "other_work"), [(10_000, True), (1, False)])
def test_other_work_or_its_time_ends_the_sleeping_wait(
    instances: dict[str, PythonInstance],
    block_ms: int,
    other_work: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A socket the loop watches that is readable ends the wait at once (it would
    otherwise sleep 10 s, far past the 50 ms answer); without one it ends after BLOCK_MS.
    Either way the answer then comes through the loop, and the other work is done.
    """
    monkeypatch.setattr(instance_module, "BLOCK_MS", block_ms)
    x = np.arange(4, dtype=np.float32)
    at_return, results = _run(instances["slow"], x, 30.0, None, sleep=True, other_work=other_work)
    assert at_return == []
    ((outputs, exc),) = results
    assert exc is None
    assert isinstance(outputs, list)
    np.testing.assert_array_equal(outputs[0]["OUTPUT0"], x + 1)


def test_loop_fd_is_the_descriptor_the_loop_polls() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        fd = loop_fd(loop)
        assert fd is not None
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(0) == []  # nothing ready
        ours, theirs = socket.socketpair()
        loop.add_reader(ours.fileno(), lambda: None)
        try:
            await asyncio.sleep(0)
            theirs.send(b"x")
            assert poller.poll(1000) != []  # ready with the socket the loop watches
        finally:
            loop.remove_reader(ours.fileno())
            ours.close()
            theirs.close()

    asyncio.run(scenario())


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


def test_a_sleeping_wait_ended_by_other_work_skips_the_next_ones() -> None:
    """Requests arriving faster than answers: the waits stop for SKIP_WAITS batches."""
    model = _model("auto", 0.0)
    try:
        assert model._take_wait()
        model._waited(True)  # answered inside the wait: the next one waits too
        assert model._take_wait()
        model._waited(False)  # ended by other work
        taken = [model._take_wait() for _ in range(SKIP_WAITS + 1)]
        assert taken == [False] * SKIP_WAITS + [True]
    finally:
        model.release()


def _voluntary_switches(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])


def test_taking_an_answer_does_not_wake_the_instance_process(
    instances: dict[str, PythonInstance],
) -> None:
    """The process sleeps once per request (waiting for it), not again when its answer is read.

    With one socket pair for both directions, reading the answer frees room in the process's
    send buffer, and the kernel wakes the process (asleep in recv on that same socket) for
    nothing; each round trip here lets it fall asleep before its answer is read.
    """
    instance = instances["identity"]
    x = np.arange(16, dtype=np.float32)
    rounds = 40
    before = _voluntary_switches(instance.process.pid)
    for _ in range(rounds):
        instance.conn.send(("exec", instance._batch([PyRequest("r", "{}", {"INPUT0": x}, [])])))
        time.sleep(0.002)  # answered and asleep in recv for the next message
        message = instance.conn.recv(timeout_s=10)
        assert message[0] == "done"
        time.sleep(0.002)  # a wake-up for nothing would come (and be counted) now
    per_round = (_voluntary_switches(instance.process.pid) - before) / rounds
    assert per_round < 1.5, f"{per_round:.2f} sleeps of the instance process per request"
