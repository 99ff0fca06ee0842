"""ONNX LSTM / GRU / RNN nodes as torch.onnx.export writes nn.LSTM/GRU/RNN (batch_first).

Oracles: onnxruntime (hepinfer's float mode within 1e-5), and hepinfer's PyTorch path on the
same module: the ONNX path gives the same recurrent nodes with the same weights, and so the
same fixed-point outputs bit for bit (the recurrent ops are bit-exact with hls4ml 1.3 through
Keras and their C simulation equals the emulator: tests/ops/test_recurrent.py).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.frontends import load_model
from hepinfer.ir.op import Op

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

CONFIG = {"Model": {"Precision": "ap_fixed<16,6>"}}
OPS = {"LSTM": Op.LSTM, "GRU": Op.GRU, "RNN": Op.SIMPLE_RNN}


class Recurrent(torch.nn.Module):  # type: ignore[misc,name-defined]
    """nn.LSTM/GRU/RNN (6 steps of 3 features, 5 units) read as `use` says, then a Linear."""

    def __init__(self, kind: str, use: str, **options: Any) -> None:
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(3, 5, batch_first=True, **options)
        self.fc = torch.nn.Linear(30 if use == "sequence" else 5, 2)
        self.use = use

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, h = self.rnn(x)
        if self.use == "last_step":
            return self.fc(y[:, -1])
        if self.use == "last_state":
            return self.fc((h[0] if isinstance(h, tuple) else h)[-1])
        return self.fc(torch.flatten(y, 1))


def _export(module: Any) -> Any:
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, 6, 3),),
            f,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "N"}},
            dynamo=False,
        )
    model = onnx.load_from_string(f.getvalue())
    model.ir_version = 10  # onnxruntime's limit
    return model


CASES = [
    ("LSTM", "last_step", {}),
    ("LSTM", "sequence", {}),
    ("GRU", "last_state", {}),
    ("RNN", "sequence", {"nonlinearity": "relu"}),
    ("RNN", "last_step", {}),
]


@pytest.mark.parametrize(("kind", "use", "options"), CASES)
def test_torch_exports_match_onnxruntime_and_the_torch_path(
    kind: str, use: str, options: dict[str, Any]
) -> None:
    torch.manual_seed(0)
    module = Recurrent(kind, use, **options).eval()
    model = _export(module)
    graph = load_model(model)
    rnns = [n for n in graph.nodes if n.op is OPS[kind]]
    assert len(rnns) == 1  # no unused sequence node beside the last step's
    assert rnns[0].attrs["return_sequences"] == (use == "sequence")
    x = np.round(np.random.default_rng(1).uniform(-2, 2, (500, 6, 3)) * 32) / 32
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    reference = session.run(None, {"x": x.astype(np.float32)})[0]
    ours = hepinfer.compile(model, CONFIG)
    floats = np.asarray(ours.predict(x, mode="float"))
    np.testing.assert_allclose(floats, reference, rtol=1e-5, atol=1e-6)
    torch_graph = load_model(module, input_shape=(6, 3))
    theirs = next(n for n in torch_graph.nodes if n.op is OPS[kind])
    for key, value in theirs.weights.items():
        np.testing.assert_array_equal(rnns[0].weights[key], value, err_msg=key)
    fixed = np.asarray(ours.predict(x))
    assert len(np.unique(fixed)) > 100
    torch_fixed = hepinfer.compile(module, CONFIG, input_shape=(6, 3)).predict(x)
    np.testing.assert_array_equal(fixed, np.asarray(torch_fixed))


class _WithState(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(3, 5, batch_first=True)
        self.register_buffer("h0", torch.ones(1, 1, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x, self.h0)[1][-1]  # a constant non-zero initial state


@pytest.mark.parametrize(
    ("module", "match"),
    [
        (Recurrent("LSTM", "last_state", bidirectional=True), "direction 'bidirectional'"),
        (_WithState(), "initial state"),
    ],
    ids=["bidirectional", "initial_state"],
)
def test_unsupported_recurrent_nodes_are_refused(module: Any, match: str) -> None:
    with pytest.raises(FrontendError, match=f"ONNX (LSTM|GRU) .*{match}.* is not supported"):
        load_model(_export(module.eval()))
