"""PyTorch frontend (torch.fx) against torch itself."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hepinfer.emulate import emulate_float
from hepinfer.errors import FrontendError
from hepinfer.frontends import load_model

torch = pytest.importorskip("torch")


@pytest.mark.filterwarnings("ignore:Implicit dimension choice for softmax")  # old pickle
@pytest.mark.parametrize("name", ["three_layer_model", "two_layer_model"])
def test_pickled_module_matches_torch(shared_data: Path, name: str) -> None:
    path = shared_data / "hls4ml-example-models" / "pytorch" / f"{name}.pt"
    graph = load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pickles were written by an old torch
        module = torch.load(str(path), weights_only=False, map_location="cpu").eval()
    x = (
        np.random.default_rng(0)
        .standard_normal((300, *graph.inputs[0].out.shape))
        .astype(np.float32)
    )
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)


class Functional(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(6, 8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.relu(self.fc1(x))
        h = self.bn(h)
        return torch.softmax(self.fc2(h), dim=-1)


def test_fx_functions_and_batchnorm() -> None:
    torch.manual_seed(0)
    module = Functional().eval()
    with torch.no_grad():
        module.bn.running_mean.uniform_(-1, 1)
        module.bn.running_var.uniform_(0.5, 2)
    graph = load_model(module)
    x = np.random.default_rng(1).standard_normal((64, 6)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)


def test_unsupported_module() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GRUCell(4, 4))
    with pytest.raises(
        FrontendError, match=r"'1' of type 'GRUCell' is not supported; supported: Linear"
    ):
        load_model(module)
