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


def test_savedmodel_serving_signature(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    import numpy as np

    class Double(tf.Module):  # type: ignore[misc]
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x: object) -> dict[str, object]:
            return {"y": 2.0 * x}

    module = Double()
    path = tmp_path / "model.savedmodel"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})
    config = parse_config('name: "d" platform: "tensorflow_savedmodel" max_batch_size: 4', "t")
    instance = TensorFlowBackend().load(path, config)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(instance.run({"x": x}, ["y"])["y"], 2 * x)
    instance.close()
