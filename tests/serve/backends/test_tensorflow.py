"""TensorFlow backend: a clear MissingDependencyError without the tf extra."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hepinfer.errors import MissingDependencyError
from hepinfer.serve.backends.tensorflow import TensorFlowBackend
from hepinfer.serve.config import parse_config


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is not None, reason="tensorflow installed"
)
def test_missing_tensorflow_is_explained(tmp_path: Path) -> None:
    config = parse_config('name: "d" platform: "tensorflow_graphdef"', "test")
    with pytest.raises(MissingDependencyError, match=r"pip install 'hepinfer\[tf\]'"):
        TensorFlowBackend().load(tmp_path / "model.graphdef", config)
