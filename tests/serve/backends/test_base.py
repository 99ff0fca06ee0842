"""The backend interface: a backend registered by another package serves through the server.

This is how hepinfer's compiler plugs its bit-exact firmware emulator in (backend "hepinfer").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError
from hepinfer.serve import InferenceServer, ServerOptions, register_backend
from hepinfer.serve.backends.base import resolve_backend


class _RoundingInstance:
    """Rounds its input to a fixed-point grid, like a firmware emulator would."""

    def __init__(self, step: float) -> None:
        self.step = step

    def run(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],  # noqa: ARG002
    ) -> dict[str, np.ndarray]:
        x = inputs["X"]
        return {"Y": (np.floor(x / self.step) * self.step).astype(np.float32)}

    def close(self) -> None:
        pass


class _RoundingBackend:
    platforms: tuple[str, ...] = ()
    default_filename = "model.step"

    def load(self, path: Path, config: mc.ModelConfig) -> _RoundingInstance:  # noqa: ARG002
        return _RoundingInstance(float(path.read_text()))

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:  # noqa: ARG002
        msg = "no auto-complete"
        raise ServeError(msg)


def test_registered_backend_serves(tmp_path: Path) -> None:
    register_backend("test_rounding", _RoundingBackend())
    (tmp_path / "fw" / "1").mkdir(parents=True)
    (tmp_path / "fw" / "1" / "model.step").write_text("0.25")
    (tmp_path / "fw" / "config.pbtxt").write_text(
        'backend: "test_rounding" max_batch_size: 8'
        ' input [{name: "X" data_type: TYPE_FP32 dims: [3]}]'
        ' output [{name: "Y" data_type: TYPE_FP32 dims: [3]}]'
    )
    options = ServerOptions([tmp_path], grpc_port=0, http_port=None, metrics_port=None)
    with InferenceServer(options) as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        x = np.array([[0.3, -0.1, 1.99]], np.float32)
        inp = grpcclient.InferInput("X", [1, 3], "FP32")
        inp.set_data_from_numpy(x)
        np.testing.assert_array_equal(
            client.infer("fw", [inp]).as_numpy("Y"), [[0.25, -0.25, 1.75]]
        )


def test_unknown_backend_lists_the_known_ones() -> None:
    config = mc.ModelConfig(name="m", backend="hepinfer_missing")
    with pytest.raises(ServeError, match=r"available backends: .*onnxruntime"):
        resolve_backend(config)
