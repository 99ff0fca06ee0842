"""TorchScript backend: Triton's INPUT__0 / OUTPUT__0 positional naming."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hepinfer.serve.backends.pytorch import PyTorchBackend
from hepinfer.serve.config import parse_config

torch = pytest.importorskip("torch")


class _Net(torch.nn.Module):  # type: ignore[misc]
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x - y, x * y


def test_indexed_names_map_positions(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(_Net()), str(path))
    # config lists the tensors out of order: the __<index> suffix decides
    config = parse_config(
        'name: "t" platform: "pytorch_libtorch" max_batch_size: 4'
        ' input [{name: "IN__1" data_type: TYPE_FP32 dims: [2]},'
        ' {name: "IN__0" data_type: TYPE_FP32 dims: [2]}]'
        ' output [{name: "OUT__1" data_type: TYPE_FP32 dims: [2]},'
        ' {name: "OUT__0" data_type: TYPE_FP32 dims: [2]}]',
        "test",
    )
    instance = PyTorchBackend().load(path, config)
    x = np.array([[5.0, 6.0]], np.float32)
    y = np.array([[1.0, 2.0]], np.float32)
    out = instance.run({"IN__0": x, "IN__1": y}, ["OUT__0", "OUT__1"])
    np.testing.assert_array_equal(out["OUT__0"], x - y)
    np.testing.assert_array_equal(out["OUT__1"], x * y)
    instance.close()
