"""The ``python`` backend: loads instances of a Triton python-backend ``model.py``.

Each instance is its own process (`PythonInstance`), started with Triton's ``initialize``
arguments; the served model (`PythonModel`) hands it whole lists of requests, as Triton's
``execute(requests)`` expects. ``auto_complete_config`` runs when the configuration lacks
inputs or outputs (a short-lived process, as Triton does before loading).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError
from hepinfer.serve.backends.python.instance import (
    DEFAULT_ARENA_BYTES,
    Bls,
    PyRequest,
    PythonInstance,
    Result,
)

_COUNTER = itertools.count()


def config_json(config: mc.ModelConfig) -> dict[str, Any]:
    """The configuration as Triton gives it to ``initialize`` (snake_case, numbers as numbers)."""
    from hepinfer.serve.core import message_to_json

    return message_to_json(config)


def _arena_bytes(config: mc.ModelConfig) -> int:
    key = "shm-default-byte-size"
    if key not in config.parameters:
        return DEFAULT_ARENA_BYTES
    text = config.parameters[key].string_value
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1 << 16:
        msg = (
            f"model {config.name!r}: parameter {key} = {text!r} must be an integer >= 65536 (bytes)"
        )
        raise ServeError(msg)
    return size


class PythonModelInstance:
    """A `ModelInstance` backed by one instance process (started again if it dies)."""

    def __init__(
        self, process: PythonInstance, name: str, args: dict[str, str], arena_bytes: int
    ) -> None:
        self.process = process
        self.name = name
        self.args = args
        self.arena_bytes = arena_bytes
        self.restarts = 0

    def restart(self) -> None:
        """Start a new process in place of the dead one and ``initialize`` it (blocks).

        Raises ServeError when the new process fails to initialize.
        """
        old = self.process
        old.kill()
        old.close()
        process = PythonInstance(old.model_py, self.arena_bytes)
        try:
            process.initialize(self.args)
        except BaseException:
            process.close()
            raise
        self.process = process
        self.restarts += 1

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """Run one request (the `ModelInstance` interface; `PythonModel` uses `execute`)."""
        (result,) = self.process.execute([PyRequest("", "{}", inputs, outputs)], None)
        if not isinstance(result, dict):
            raise ServeError(str(result))
        return result

    def execute(self, requests: Sequence[PyRequest], bls: Bls | None) -> list[Result]:
        """Run a list of requests through ``execute``; per request outputs or error text."""
        return self.process.execute(requests, bls)

    def close(self) -> None:
        """Run ``finalize`` and stop the process."""
        self.process.close()


class PythonBackend:
    """Triton's ``backend: "python"``."""

    platforms: tuple[str, ...] = ()
    default_filename = "model.py"

    def load(self, path: Path, config: mc.ModelConfig) -> PythonModelInstance:
        """Start an instance process for ``model.py`` at `path` and initialize it."""
        if not path.is_file():
            msg = f"model {config.name!r}: python-backend model file {path} does not exist"
            raise ServeError(msg)
        index = next(_COUNTER)
        name = f"{config.name}_0_{index}"
        arena_bytes = _arena_bytes(config)
        process = PythonInstance(path.resolve(), arena_bytes)
        args = {
            "model_config": json.dumps(config_json(config)),
            "model_instance_kind": "CPU",
            "model_instance_name": name,
            "model_instance_device_id": "0",
            "model_repository": str(path.resolve().parent.parent),
            "model_version": path.parent.name,
            "model_name": config.name,
        }
        try:
            process.initialize(args)
        except BaseException:
            process.close()
            raise
        return PythonModelInstance(process, name, args, arena_bytes)

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:
        """Fill the configuration with the model's ``auto_complete_config``."""
        if not path.is_file():
            msg = f"model {config.name!r}: python-backend model file {path} does not exist"
            raise ServeError(msg)
        process = PythonInstance(path.resolve(), 1 << 16)
        try:
            completed = process.autocomplete(config_json(config))
        finally:
            process.close()
        new = mc.ModelConfig()
        try:
            json_format.ParseDict(completed, new, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            msg = f"model {config.name!r}: auto_complete_config returned an invalid config: {exc}"
            raise ServeError(msg) from None
        config.CopyFrom(new)
