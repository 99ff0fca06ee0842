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
from hepinfer.serve.backends.base import load_entry_points, resolve_backend


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


def test_entry_point_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package installed with a `hepinfer.backends` entry point is found and registered."""
    (tmp_path / "hepinfer_test_plugin.py").write_text(
        "class Backend:\n"
        "    platforms = ()\n"
        "    default_filename = 'model.plugin'\n\n"
        "def make():\n"
        "    return Backend()\n\n"
        "def broken():\n"
        "    raise RuntimeError('cannot start')\n"
    )
    dist = tmp_path / "hepinfer_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hepinfer-test-plugin\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[hepinfer.backends]\n"
        "test_plugin = hepinfer_test_plugin:make\n"
        "test_broken = hepinfer_test_plugin:broken\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    names = load_entry_points()
    assert "test_plugin" in names
    assert "test_broken" not in names  # logged and skipped
    config = mc.ModelConfig(name="m", backend="test_plugin")
    name, backend = resolve_backend(config)
    assert name == "test_plugin"
    assert backend.default_filename == "model.plugin"
