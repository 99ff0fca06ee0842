"""PyTorch nn.GRU and nn.LSTM (issue 13) against hls4ml 1.3's PyTorch converter.

hls4ml 1.3 converts a batch_first nn.GRU / nn.LSTM into its GRU / LSTM layer with
`pytorch=True` (torch's gate order; GRU's reset gate multiplies `h R_n + b_hn`, as hepinfer's
`reset_after` GRU; both bias rows kept). Its default `channels_last_conversion='full'` puts a
Transpose before the recurrent layer, which then reads the (8, 6) sequence as 6 steps of 8
features: wrong outputs. With 'off' the recurrent layer is right but a Linear's (out, in)
weight is read as (in, out), so the runner gives hls4ml a copy whose Linear weights are laid
out as it reads them (`torch_hls4ml_runner.py`). hepinfer converts the module itself (the
last-state node takes the module's name, as hls4ml's layer, so hls4ml's LayerName
configuration applies) and must give hls4ml's C simulation bit for bit on 2,000 inputs: the
GRU and the LSTM each at model level `ap_fixed<16,6>` and at a mixed per-layer configuration
(weights, biases, recurrent weights and biases in types of their own and the Linear's types;
the GRU's accumulator and result too, which hls4ml's LSTM kernel cannot take; control: with
the recurrent kernel or bias in the kernel's or bias' type the outputs differ).

hls4ml's writer prints each weight with as many decimals as its type has fractional bits
before the C++ truncates it; a value just below a grid point can so round onto it (hepinfer
truncates the exact value). The types here have enough fractional bits that no weight does:
checked before the comparison. nn.RNN: hls4ml 1.3's Vitis backend has no SimpleRNN kernel
(float check in `tests/ops/test_recurrent.py`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.fixed import FixedType
from hepinfer.ops import recurrent

torch = pytest.importorskip("torch")

from tests.frontends.torch_hls4ml_runner import LastGRU, LastLSTM, run_jobs

MODEL_LEVEL: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}
}
#: the recurrent kernel and bias in types of their own (hls4ml's recurrent_weight_t and
#: recurrent_bias_t; PyTorch's recurrent bias `b_hh` is not zero)
RECURRENT = {
    "weight": "ap_fixed<10,2>",
    "recurrent_weight": "ap_fixed<8,1>",
    "bias": "ap_fixed<12,3>",
    "recurrent_bias": "ap_fixed<10,2,AP_RND>",
}
LINEAR = {
    "weight": "ap_fixed<9,2,AP_RND>",
    "accum": "ap_fixed<18,6>",
    "result": "ap_fixed<14,5,AP_RND_CONV,AP_SAT>",
}
MIXED_GRU = {
    "gru": {**RECURRENT, "accum": "ap_fixed<20,7>", "result": "ap_fixed<13,4,AP_RND,AP_SAT>"},
    "fc": LINEAR,
}
#: hls4ml 1.3's LSTM kernel compiles only when input, accumulator and result share one type,
#: so its mixed configuration pins the weights, biases and recurrent ones (and the Linear)
MIXED_LSTM = {"lstm": RECURRENT, "fc": LINEAR}
MODULES: dict[str, Any] = {"last_gru": LastGRU, "last_lstm": LastLSTM}
#: job -> (model, pins): each layer kind at model level and at a mixed configuration
JOBS: dict[str, tuple[str, dict[str, Any]]] = {
    "gru": ("last_gru", {}),
    "gru_mixed": ("last_gru", MIXED_GRU),
    "lstm": ("last_lstm", {}),
    "lstm_mixed": ("last_lstm", MIXED_LSTM),
}
STEPS, FEATURES = 8, 6


def _inputs(n: int) -> np.ndarray:
    """Sequences in [-2, 2] on a 2**-5 grid (exact in ap_fixed<16,6> and in float32)."""
    return np.round(np.random.default_rng(5).uniform(-2, 2, (n, STEPS, FEATURES)) * 32) / 32


@pytest.fixture(scope="module")
def peer_runs(hls4ml_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("torch_recurrent")
    np.save(work / "x.npy", _inputs(2000))
    jobs = [
        {
            "model": model,
            "seed": 1,
            "shape": [STEPS, FEATURES],
            "x": str(work / "x.npy"),
            "out": str(work / name),
            "pins": pins,
            "channels_last_conversion": "off",
        }
        for name, (model, pins) in JOBS.items()
    ]
    run_jobs(hls4ml_python, work, jobs)
    return work


def _printed_as_hls4ml_does(values: np.ndarray, t: FixedType) -> bool:
    """True when printing `values` with `t`'s fractional bits as decimals (hls4ml's writer)
    leaves their truncation into `t` unchanged.
    """
    scale = 2.0**t.frac
    printed = np.array([float(f"{v:.{t.frac}f}") for v in values.ravel()])
    return bool(np.array_equal(np.floor(printed * scale), np.floor(values.ravel() * scale)))


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", list(JOBS))
def test_bit_exact_against_hls4ml_csim(peer_runs: Path, name: str) -> None:
    module = MODULES[JOBS[name][0]]()
    module.load_state_dict(torch.load(peer_runs / name / "state.pt"))
    module.eval()
    config = json.loads((peer_runs / name / "hls4ml_config.json").read_text())
    model = hepinfer.compile(module, config, input_shape=(STEPS, FEATURES))
    layers = {n.name: n for n in model.graph.nodes}
    kind = JOBS[name][0].removeprefix("last_")
    assert layers[kind].op.value == kind.upper()  # hls4ml's layer name reaches the node
    assert json.loads((peer_runs / name / "layers.json").read_text())[1] == [kind, kind.upper()]
    for var, key in recurrent.HELD.items():
        t = getattr(layers[kind].precision, var)
        assert _printed_as_hls4ml_does(np.asarray(layers[kind].weights[key]), t), (var, key)
    x = _inputs(2000)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    expected = np.load(peer_runs / name / "y_hls4ml.npy")
    differing = int(np.count_nonzero(ours != expected))
    assert differing == 0, f"{differing} of {ours.size} outputs differ from hls4ml's C simulation"
    assert len(np.unique(ours)) > 400
    with torch.no_grad():
        reference = module(torch.from_numpy(x.astype(np.float32))).numpy()
    floats = np.asarray(
        hepinfer.compile(module, MODEL_LEVEL, input_shape=(STEPS, FEATURES)).predict(
            x, mode="float"
        )
    )
    np.testing.assert_allclose(floats.reshape(reference.shape), reference, rtol=1e-5, atol=1e-6)
    # the fixed outputs track torch (hls4ml's too: the comparison is of a working model)
    assert np.abs(expected - reference).max() < 0.05
    if name.endswith("_mixed"):  # control: the recurrent types change the outputs
        for var, instead in (("recurrent_weight", "weight"), ("recurrent_bias", "bias")):
            same = copy.deepcopy(config)
            precision = same["LayerName"][kind]["Precision"]
            precision[var] = precision[instead]
            y = hepinfer.compile(module, same, input_shape=(STEPS, FEATURES)).predict(x)
            assert int(np.count_nonzero(np.asarray(y).reshape(ours.shape) != expected)) > 0, var
