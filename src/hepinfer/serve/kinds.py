"""Which `ServedModel` class serves a configuration (plain, python backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.serve.backends.base import ModelInstance
from hepinfer.serve.backends.python.served import PythonModel
from hepinfer.serve.budget import MemoryBudget
from hepinfer.serve.ensemble import Resolver
from hepinfer.serve.model import ServedModel


def served_model(
    config: mc.ModelConfig,
    version: int,
    instances: Sequence[ModelInstance],
    labels: dict[str, list[str]],
    path: Path,
    budget: MemoryBudget | None,
    resolver: Resolver | None,
) -> ServedModel:
    """The served model of one loaded version (python-backend models get `PythonModel`)."""
    if config.backend == "python":
        return PythonModel(config, version, instances, labels, path, budget, resolver)
    return ServedModel(config, version, instances, labels, path, budget)
