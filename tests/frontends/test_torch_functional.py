"""PyTorch functional forms of issue 13: `+`, `-`, `*` by Python numbers (hls4ml's `Constant`),
`F.batch_norm` and `torch.einsum` of two computed tensors (hls4ml's Einsum).

hls4ml 1.3 turns a number in `add`/`sub`/`mul` into a `Constant` layer and the merge into an
ApplyAlpha (`x * scale + bias`), which it folds into a Dense whose result type is 'auto';
hepinfer makes the same BatchNormalization node and folds it the same way. The oracle runs
`torch_hls4ml_runner.py` in the hls4ml peer (one start, two conversions) and compares
hepinfer with hls4ml's C simulation bit for bit on 2,000 inputs, at hls4ml's configuration
(`granularity='name'`, model `ap_fixed<16,6>`: the scales fold into the Dense layers) and at
mixed per-layer types (results pinned: the scales stay separate layers). The same for two
einsums (a batched matrix product and one with an output transpose): at hls4ml's types (the
accumulator `ap_fixed<16,6>` truncates each addition of 72-bit products) and at mixed
accumulators that round to even / toward zero and saturate at every addition.

hls4ml 1.3 refuses `F.batch_norm` ("use the torch.nn implementation"): hepinfer converts it
into the node nn.BatchNorm1d gives (same weights, so bit for bit what the tested module
computes), float equal to torch, csim == emulator. hls4ml 1.3 also breaks `c - x` (it
replaces the tensor operand by the constant): hepinfer computes `-x + c`, checked against torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.frontends import load_model
from hepinfer.ir.op import Op

torch = pytest.importorskip("torch")

from tests.frontends.torch_hls4ml_runner import ScalarArith, TwoEinsums, run_jobs

MODEL_LEVEL: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}
}
#: results pinned, so hls4ml keeps its ApplyAlpha layers `bn_<name>` (configured as `<name>`)
MIXED = {
    "fc": {"result": "ap_fixed<18,8>"},
    "mul": {"result": "ap_fixed<16,7,AP_RND>"},
    "add": {"result": "ap_fixed<14,5,AP_RND_CONV,AP_SAT>"},
    "sub": {"result": "ap_fixed<15,6>"},
    "out": {"result": "ap_fixed<16,6>", "accum": "ap_fixed<20,8>"},
    "mul_1": {"result": "ap_fixed<16,7>"},
}
MIXED_EINSUM = {
    "fa": {"result": "ap_fixed<18,8>"},
    "fb": {"result": "ap_fixed<18,8>"},
    "einsum": {"accum": "ap_fixed<24,8,AP_RND_CONV,AP_SAT>", "result": "ap_fixed<14,6,AP_RND>"},
    "einsum_1": {
        "accum": "ap_fixed<20,7,AP_TRN_ZERO>",
        "result": "ap_fixed<16,7,AP_RND_CONV,AP_SAT>",
    },
    "o1": {"result": "ap_fixed<16,6>"},
    "o2": {"result": "ap_fixed<16,6>"},
}
#: job -> (model, pins)
JOBS: dict[str, tuple[str, dict[str, Any]]] = {
    "model": ("scalar_arith", {}),
    "mixed": ("scalar_arith", MIXED),
    "einsum_model": ("two_einsums", {}),
    "einsum_mixed": ("two_einsums", MIXED_EINSUM),
}


def _inputs(n: int, features: int) -> np.ndarray:
    """Inputs in [-2, 2] on a 2**-5 grid (exact in ap_fixed<16,6> and in float32)."""
    return np.round(np.random.default_rng(5).uniform(-2, 2, (n, features)) * 32) / 32


@pytest.fixture(scope="module")
def peer_runs(hls4ml_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("torch_functional")
    np.save(work / "x.npy", _inputs(2000, 6))
    jobs = [
        {
            "model": model,
            "seed": 1,
            "shape": [6],
            "x": str(work / "x.npy"),
            "out": str(work / name),
            "pins": pins,
        }
        for name, (model, pins) in JOBS.items()
    ]
    run_jobs(hls4ml_python, work, jobs)
    return work


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", ["model", "mixed"])
def test_scalar_arith_bit_exact_against_hls4ml_csim(peer_runs: Path, name: str) -> None:
    module = ScalarArith()
    module.load_state_dict(torch.load(peer_runs / name / "state.pt"))
    module.eval()
    graph = load_model(module)
    scales = [n.name for n in graph.nodes if n.op is Op.BATCHNORM]
    assert scales == ["mul", "add", "sub", "mul_1"]
    config = json.loads((peer_runs / name / "hls4ml_config.json").read_text())
    # hls4ml's `const_<i>` Constant layers disappear into the ApplyAlpha (hepinfer has none)
    config["LayerName"] = {
        k: v for k, v in config["LayerName"].items() if not k.startswith("const")
    }
    x = _inputs(2000, 6)
    model = hepinfer.compile(module, config)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    expected = np.load(peer_runs / name / "y_hls4ml.npy")
    differing = int(np.count_nonzero(ours != expected))
    assert differing == 0, f"{differing} of {ours.size} outputs differ from hls4ml's C simulation"
    assert len(np.unique(ours)) > 100
    hls4ml_layers = [n for n, _ in json.loads((peer_runs / name / "layers.json").read_text())]
    assert ("bn_mul" in hls4ml_layers) == (name == "mixed")  # folded only into 'auto' results
    with torch.no_grad():
        reference = module(torch.from_numpy(x.astype(np.float32))).numpy()
    floats = np.asarray(hepinfer.compile(module, MODEL_LEVEL).predict(x, mode="float"))
    np.testing.assert_allclose(floats, reference, rtol=1e-5, atol=1e-6)


class FunctionalBatchNorm(torch.nn.Module):  # type: ignore[misc,name-defined]
    """F.batch_norm on the module's own parameters and buffers, then `c - x`."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(2, channels, 3)
        self.weight = torch.nn.Parameter(torch.rand(channels) + 0.5)
        self.bias = torch.nn.Parameter(torch.rand(channels) - 0.5)
        self.register_buffer("mean", torch.rand(channels) - 0.5)
        self.register_buffer("var", torch.rand(channels) + 0.5)
        self.fc = torch.nn.Linear(channels * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.batch_norm(
            self.conv(x), self.mean, self.var, self.weight, self.bias, eps=1e-3
        )
        return 1.5 - self.fc(torch.flatten(torch.relu(h), 1))


class ModuleBatchNorm(FunctionalBatchNorm):
    """The same network with nn.BatchNorm1d holding the same statistics."""

    def __init__(self, functional: FunctionalBatchNorm) -> None:
        super().__init__()
        self.load_state_dict(functional.state_dict())
        self.bn = torch.nn.BatchNorm1d(len(self.mean), eps=1e-3).eval()
        with torch.no_grad():
            for mine, theirs in (
                (self.bn.weight, self.weight),
                (self.bn.bias, self.bias),
                (self.bn.running_mean, self.mean),
                (self.bn.running_var, self.var),
            ):
                mine.copy_(theirs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.5 - self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


def test_functional_batch_norm_is_the_module_batch_norm() -> None:
    torch.manual_seed(3)
    functional = FunctionalBatchNorm().eval()
    module = ModuleBatchNorm(functional).eval()
    x = np.round(np.random.default_rng(4).uniform(-2, 2, (500, 2, 8)) * 32) / 32
    ours = hepinfer.compile(functional, MODEL_LEVEL, input_shape=(2, 8))
    theirs = hepinfer.compile(module, MODEL_LEVEL, input_shape=(2, 8))
    assert any(n.op is Op.BATCHNORM for n in load_model(functional, input_shape=(2, 8)).nodes)
    fixed = np.asarray(ours.predict(x))
    np.testing.assert_array_equal(fixed, np.asarray(theirs.predict(x)))
    assert len(np.unique(fixed)) > 100
    with torch.no_grad():
        reference = functional(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(
        np.asarray(ours.predict(x, mode="float")), reference, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(np.asarray(ours.csim(x[:100])), fixed[:100])


class _Training(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(4))
        self.register_buffer("var", torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.batch_norm(x, self.mean, self.var, training=True)


class _NoStatistics(_Training):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.batch_norm(x, None, None)


class _BufferElsewhere(_Training):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mean


class _AddAlpha(torch.nn.Module):  # type: ignore[misc,name-defined]
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.add(x, 2.0, alpha=3)


@pytest.mark.parametrize(
    ("cls", "match"),
    [
        (_AddAlpha, r"PyTorch add 'add' with arguments \(2.0,\) \{'alpha': 3\}"),
        (_Training, "F.batch_norm 'batch_norm' with training=True"),
        (_NoStatistics, "F.batch_norm 'batch_norm' without running_mean/running_var"),
        (_BufferElsewhere, "'mean' .a parameter or buffer of the module. is used by 'add'"),
    ],
)
def test_functional_batch_norm_refusals(cls: type, match: str) -> None:
    with pytest.raises(FrontendError, match=match):
        load_model(cls(), input_shape=(4,))


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", ["einsum_model", "einsum_mixed"])
def test_einsum_bit_exact_against_hls4ml_csim(peer_runs: Path, name: str) -> None:
    module = TwoEinsums()
    module.load_state_dict(torch.load(peer_runs / name / "state.pt"))
    module.eval()
    config = json.loads((peer_runs / name / "hls4ml_config.json").read_text())
    x = _inputs(2000, 6)
    model = hepinfer.compile(module, config)
    assert [n.name for n in model.graph.nodes if n.op is Op.EINSUM] == ["einsum", "einsum_1"]
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    expected = np.load(peer_runs / name / "y_hls4ml.npy")
    differing = int(np.count_nonzero(ours != expected))
    assert differing == 0, f"{differing} of {ours.size} outputs differ from hls4ml's C simulation"
    assert len(np.unique(ours)) > 100
    with torch.no_grad():
        reference = module(torch.from_numpy(x.astype(np.float32))).numpy()
    floats = np.asarray(hepinfer.compile(module, MODEL_LEVEL).predict(x, mode="float"))
    np.testing.assert_allclose(floats, reference, rtol=1e-5, atol=1e-5)
    if name == "einsum_mixed":  # hepinfer's HLS project and estimate
        runs = [("io_parallel", "auto"), ("io_stream", "auto"), ("io_parallel", "hepinfer")]
        for io_type, headers in runs:  # Xilinx's ap_types when found, and hepinfer's own
            csim = model.csim(x[:100], io_type=io_type, headers=headers)
            np.testing.assert_array_equal(np.asarray(csim).reshape(100, -1), ours[:100])
        costs = {layer.name: layer for layer in model.estimate().layers}
        assert {"einsum", "einsum_1"} <= set(costs)


class _Einsum(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self, equation: str, operands: int = 2) -> None:
        super().__init__()
        self.equation, self.operands = equation, operands
        self.fc = torch.nn.Linear(6, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.fc(x).view(-1, 3, 4)
        return torch.einsum(self.equation, *([a] * self.operands))


@pytest.mark.parametrize(
    ("equation", "operands", "match"),
    [
        ("bij,bij,bij->bij", 3, "with 3 operands"),
        ("...ij,...kj->...ik", 2, "no '...'"),
        ("bij,ibj->bij", 2, "batch axis as the first subscript"),
        ("bij,bkl->bik", 2, "summed over appears in both operands"),
    ],
)
def test_einsum_refusals(equation: str, operands: int, match: str) -> None:
    with pytest.raises(FrontendError, match=f"torch.einsum 'einsum'.*{match}"):
        load_model(_Einsum(equation, operands))
