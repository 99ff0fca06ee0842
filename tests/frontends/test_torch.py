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


def test_cnn_modules_match_torch() -> None:
    nn = torch.nn
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, groups=4, padding="same"),
        nn.AvgPool2d(2, padding=1),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 3),
        nn.Softmax(dim=1),
    ).eval()
    with torch.no_grad():
        cnn[1].running_mean.uniform_(-1, 1)
        cnn[1].running_var.uniform_(0.5, 2)
    seq = nn.Sequential(
        nn.Conv1d(3, 5, 4, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(5, 2),
    ).eval()
    rng = np.random.default_rng(0)
    for module, shape in ((cnn, (2, 8, 8)), (seq, (3, 20))):
        graph = load_model(module, input_shape=shape)
        x = rng.standard_normal((20, *shape)).astype(np.float32)
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(emulate_float(graph, x)[graph.outputs[0]], expected, atol=1e-5)
    # compiled with `auto` result types the BatchNorm folds into the Conv2d (as in hls4ml;
    # hepinfer's default config always folds); the float reference is unchanged
    import hepinfer

    config = hepinfer.config_from_model(cnn, granularity="name", input_shape=(2, 8, 8))
    kept = hepinfer.compile(cnn, hepinfer.Config.hls4ml(), input_shape=(2, 8, 8))
    assert "BatchNormalization" in str(kept)
    assert "BatchNormalization" not in str(hepinfer.compile(cnn, input_shape=(2, 8, 8)))
    compiled = hepinfer.compile(cnn, config, input_shape=(2, 8, 8))
    assert "BatchNormalization" not in str(compiled)
    x = rng.standard_normal((20, 2, 8, 8))
    with torch.no_grad():
        expected = cnn(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(compiled.predict(x, mode="float"), expected, atol=1e-5)
