"""The ``ensemble`` platform: a model that only routes tensors between other models.

An ensemble has no instances and no model file; `hepinfer.serve.ensemble.EnsembleModel` runs
its ``ensemble_scheduling`` steps through the composing models' own schedulers. This backend
only lets the configuration resolve (``platform: "ensemble"``) and says what is wrong when
an ensemble is used like a model with a file.
"""

from __future__ import annotations

from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError
from hepinfer.serve.backends.base import ModelInstance

#: Triton's platform name of ensembles
ENSEMBLE_PLATFORM = "ensemble"


class EnsembleBackend:
    """Resolves ``platform: "ensemble"``; ensembles are scheduled, never loaded as instances."""

    platforms: tuple[str, ...] = (ENSEMBLE_PLATFORM,)
    #: ensembles have no file; a name no model file has (auto-detection never picks it)
    default_filename = "(ensemble)"

    def load(self, path: Path, config: mc.ModelConfig) -> ModelInstance:
        """Ensembles have no instances (the repository builds an `EnsembleModel`)."""
        msg = (
            f"model {config.name!r}: an ensemble has no model file to load at {path}; it runs "
            "its ensemble_scheduling steps on the composing models"
        )
        raise ServeError(msg)

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:
        """Ensembles cannot be auto-completed: their inputs and outputs must be declared."""
        msg = (
            f"model {config.name!r}: an ensemble must declare its input and output tensors in "
            f"config.pbtxt (nothing at {path} describes them)"
        )
        raise ServeError(msg)
