"""Layers hls4ml 1.3 cannot convert (issue 13): the emulator against the framework's runtime.

hls4ml `predict()` is no reference for these layers: its Vitis backend has no SimpleRNN kernel
(the writer emits no call, the output stays unwritten), it has no ONNX handler for
LSTM/GRU/RNN, no `Clip` handler, converts `Conv` only with `group` 1 or depthwise, reads a
`Resize` wrongly, has no `Trunc`/`MultiThreshold` handler (its `BipolarQuant` takes
another sign at 0) and no transposed convolution at all (Conv1DTranspose/Conv2DTranspose). So each model is timed against the framework that defines it: Keras 3
(torch backend) `predict` for SimpleRNN, torch for `nn.RNN`, onnxruntime for ONNX, and QONNX's
own executor (`execute_onnx`, in the hls4ml peer's venv, a subprocess) for the QONNX custom ops
onnxruntime cannot run. The models are the tests' builders (`tests/ops/test_recurrent.py`,
`tests/frontends/test_onnx_recurrent.py`, `tests/frontends/onnx_ops_models.py`).

Per model, on one batch of `--samples` inputs (best of `--repeats`, after a warm-up call):
hepinfer `predict` in fixed-point mode (model-level `ap_fixed<16,6>`) and in float mode, and
the framework; `float err` is hepinfer's float output against the framework's, as the largest
|difference| over the largest |framework output| (the tests' 1e-5 criterion).

Also Keras' GRU with `reset_after=False` (hls4ml 1.3 reads it as the other form) and
Bidirectional with `merge_mode` 'sum', 'mul' and 'ave' (its Vitis backend replaces them by
'concat'; the 'concat' row is the same model with the merge hls4ml runs, against hls4ml in
`bench_keras_layers.py`). `--csim` adds a column: the fixed-point outputs that differ from
hepinfer's own C simulation of the model (its HLS project, compiled with g++) on every input.

Run: python benchmarks/bench_no_hls4ml_layers.py [--samples 10000] [--repeats 3]
[--only NAME ...] [--csim]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import hepinfer

REPO = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("HEPINFER_PEERS", REPO / "peers"))
CONFIG = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}

#: QONNX's executor on a saved model and inputs (run by the hls4ml peer's python): prints the
#: best seconds of `execute_onnx` over the batch and saves its output
_QONNX_SCRIPT = """
import json, sys, time
import numpy as np, onnx
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.cleanup import cleanup_model
path, xs, out, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
x = np.load(xs).astype(np.float32)
proto = onnx.load(path)
for value in (*proto.graph.input, *proto.graph.output):
    if value.type.tensor_type.shape.dim:
        value.type.tensor_type.shape.dim[0].dim_value = len(x)
model = cleanup_model(ModelWrapper(proto))
feed = {model.graph.input[0].name: x}
name = model.graph.output[0].name
execute_onnx(model, feed)
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    y = execute_onnx(model, feed)[name]
    best = min(best, time.perf_counter() - start)
np.save(out, np.asarray(y, dtype=np.float64))
print(json.dumps({"seconds": best}))
"""


@dataclass(frozen=True)
class Row:
    """One model: its name, the layers it times, the framework and how to build it."""

    name: str
    layers: str
    framework: str
    shape: tuple[int, ...]
    build: Callable[[], tuple[Any, dict[str, Any], Any]]


def _best(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The best wall time of `repeats` calls of `run` after one warm-up call, and its result."""
    result = run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def _keras_simple_rnn() -> tuple[Any, dict[str, Any], Any]:
    from tests.ops import test_recurrent as tr

    weights = tr._weights("SimpleRNN", 5, tr.FEATURES, 11)
    config = {"units": 5, "name": "rnn", "return_sequences": True, "activation": "relu"}
    model = tr._model([("SimpleRNN", config, weights)])
    return model, {}, ("keras", model)


def _keras_gru_reset_before() -> tuple[Any, dict[str, Any], Any]:
    """GRU(5, reset_after=False, sequences) -> GRU(3, reset_after=False): Keras' other GRU
    form, which hls4ml 1.3 reads as the `reset_after=True` one (see `ops/gru.py`).
    """
    from tests.ops import test_recurrent as tr

    model = tr._model(
        [
            (
                "GRU",
                {"units": 5, "name": "gru1", "reset_after": False, "return_sequences": True},
                tr._weights("GRU", 5, tr.FEATURES, 11, reset_after=False),
            ),
            (
                "GRU",
                {"units": 3, "name": "gru2", "reset_after": False},
                tr._weights("GRU", 3, 5, 12, reset_after=False),
            ),
        ]
    )
    return model, {}, ("keras", model)


def _keras_bidirectional(mode: str) -> Callable[[], tuple[Any, dict[str, Any], Any]]:
    """Bidirectional(LSTM(3), sequences) -> Bidirectional(LSTM(2)), both with `merge_mode`
    `mode` (the model of `benchmarks/bench_keras_layers.py`'s `bidirectional` row, which
    hls4ml 1.3 runs with 'concat', the only merge its Vitis backend has).
    """

    def build() -> tuple[Any, dict[str, Any], Any]:
        from tests.ops import test_recurrent as tr

        width = 6 if mode == "concat" else 3
        layers = []
        for kind, units, n_in, seq, name, seed in (
            ("LSTM", 3, tr.FEATURES, True, "bi1", 41),
            ("LSTM", 2, width, False, "bi2", 43),
        ):
            cls, config, weights = tr._bidirectional(kind, units, n_in, seq, name, seed)
            layers.append((cls, {**config, "merge_mode": mode}, weights))
        model = tr._model(layers)
        return model, {}, ("keras", model)

    return build


def _torch_rnn() -> tuple[Any, dict[str, Any], Any]:
    import torch
    from tests.frontends.test_onnx_recurrent import Recurrent

    torch.manual_seed(0)
    module = Recurrent("RNN", "sequence", nonlinearity="relu").eval()
    return module, {"input_shape": (6, 3)}, ("torch", module)


def _onnx_recurrent(kind: str, use: str) -> Callable[[], tuple[Any, dict[str, Any], Any]]:
    def build() -> tuple[Any, dict[str, Any], Any]:
        import torch
        from tests.frontends.test_onnx_recurrent import Recurrent, _export

        torch.manual_seed(0)
        model = _export(Recurrent(kind, use).eval())
        return model, {}, ("ort", model)

    return build


def _keras_conv_transpose() -> tuple[Any, dict[str, Any], Any]:
    """tests/ops/test_conv_transpose.py's 2D model (two Conv2DTranspose, ReLU, Dense)."""
    import keras
    from tests.ops import test_conv_transpose as ct
    from tests.ops.keras_oracle import keras_file

    path = Path(tempfile.mkdtemp(prefix="convt")) / "convt.keras"
    keras_file(ct.SHAPES["2d"], ct.layers_2d(np.random.default_rng(5)), path)
    model = keras.models.load_model(path)
    return model, {}, ("keras", model)


def _keras_mha() -> tuple[Any, dict[str, Any], Any]:
    """tests/frontends/test_keras_mha.py's transformer block (Keras' MultiHeadAttention)."""
    from tests.frontends.test_keras_mha import _models

    model, _ = _models()["transformer_block"]
    return model, {}, ("keras", model)


def _onnx(
    builder: Callable[[], Any], runtime: str
) -> Callable[[], tuple[Any, dict[str, Any], Any]]:
    def build() -> tuple[Any, dict[str, Any], Any]:
        model = builder()
        model = model[0] if isinstance(model, tuple) else model
        return model, {}, (runtime, model)

    return build


def _rows() -> list[Row]:
    from tests.frontends import onnx_ops_models as om

    return [
        Row("simple_rnn", "SimpleRNN(5, relu, seq)", "Keras 3", (6, 3), _keras_simple_rnn),
        Row(
            "gru_reset_before",
            "GRU(5, seq) + GRU(3), reset_after=False",
            "Keras 3",
            (6, 3),
            _keras_gru_reset_before,
        ),
        *(
            Row(
                f"bidirectional_{mode}",
                f"Bidirectional(LSTM) x 2, merge_mode '{mode}'",
                "Keras 3",
                (6, 3),
                _keras_bidirectional(mode),
            )
            for mode in ("sum", "mul", "ave", "concat")
        ),
        Row("torch_rnn", "nn.RNN(3, 5, relu) + Linear", "torch", (6, 3), _torch_rnn),
        Row(
            "onnx_lstm", "LSTM + Gemm", "onnxruntime", (6, 3), _onnx_recurrent("LSTM", "last_step")
        ),
        Row("onnx_gru", "GRU + Gemm", "onnxruntime", (6, 3), _onnx_recurrent("GRU", "last_state")),
        Row("onnx_rnn", "RNN + Gemm", "onnxruntime", (6, 3), _onnx_recurrent("RNN", "sequence")),
        Row(
            "grouped_conv",
            "Conv(group 2) + Conv",
            "onnxruntime",
            (9, 7, 4),
            _onnx(lambda: om.grouped_conv(2, 2, 4, 6), "ort"),
        ),
        Row(
            "qonnx_binary",
            "BipolarQuant, Trunc, Quant",
            "QONNX exec",
            (8,),
            _onnx(om.qonnx_binary, "qonnx"),
        ),
        Row(
            "multithreshold",
            "Conv + MultiThreshold",
            "QONNX exec",
            (2, 4, 5),
            _onnx(om.multithreshold, "qonnx"),
        ),
        Row(
            "clip", "Clip (x2) + arithmetic", "onnxruntime", (3, 5, 4), _onnx(om.arithmetic, "ort")
        ),
        Row(
            "resize",
            "Pad, Resize(nearest)",
            "onnxruntime",
            (2, 4, 5),
            _onnx(lambda: om.pad_resize(True), "ort"),
        ),
        Row(
            "conv_transpose",
            "Conv2DTranspose (s2 same, s(2,1) valid) + Dense",
            "Keras 3",
            (5, 4, 3),
            _keras_conv_transpose,
        ),
        Row(
            "keras_mha",
            "MultiHeadAttention(2 heads, key_dim 4) + Add, LayerNorm, Dense block",
            "Keras 3",
            (5, 8),
            _keras_mha,
        ),
    ]


def _framework(runtime: tuple[str, Any], x: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    """The framework's best time on `x` and its output (float64, one row per input)."""
    kind, model = runtime
    x32 = x.astype(np.float32)
    if kind == "keras":
        seconds, y = _best(lambda: model.predict(x32, batch_size=len(x), verbose=0), repeats)
    elif kind == "torch":
        import torch

        tensor = torch.tensor(x32)
        with torch.no_grad():
            seconds, y = _best(lambda: model(tensor).numpy(), repeats)
    elif kind == "ort":
        import onnxruntime as ort

        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        name = session.get_inputs()[0].name
        seconds, y = _best(lambda: session.run(None, {name: x32})[0], repeats)
    else:
        seconds, y = _qonnx(model, x32, repeats)
    return seconds, np.asarray(y, dtype=np.float64).reshape(len(x), -1)


def qonnx_v2_form(model: Any) -> Any:
    """A copy of `model` in the form QONNX 1.0.0's executor reads a `Trunc` v2 in: the domain
    `qonnx.custom_op.general` imported at version 2 (without it the executor runs Trunc v1)
    and six inputs (x, scale, zeropt, in_bits, out_scale, out_bits): the tests' builder
    writes seven, with an output zero point (0) before the output bit width, which QONNX 1.0.0
    would read as the bit width.
    """
    import onnx
    from onnx import helper

    copy = onnx.load_from_string(model.SerializeToString())
    if any(n.op_type == "Trunc" for n in copy.graph.node):
        domain = "qonnx.custom_op.general"
        kept = [o for o in copy.opset_import if o.domain != domain]
        del copy.opset_import[:]
        copy.opset_import.extend([*kept, helper.make_opsetid(domain, 2)])
    for n in copy.graph.node:
        if n.op_type == "Trunc" and len(n.input) == 7:
            del n.input[5]
    return copy


def _qonnx(model: Any, x: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        onnx.save(qonnx_v2_form(model), str(work / "m.onnx"))
        np.save(work / "x.npy", x)
        proc = subprocess.run(
            [
                str(PEERS / "hls4ml" / "bin" / "python"),
                "-c",
                _QONNX_SCRIPT,
                str(work / "m.onnx"),
                str(work / "x.npy"),
                str(work / "y.npy"),
                str(repeats),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        seconds = float(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])
        return seconds, np.load(work / "y.npy")


def _ms(seconds: float) -> str:
    """Milliseconds with 3 significant digits (batch-1 times are fractions of one)."""
    ms = seconds * 1e3
    return f"{ms:.3g} ms" if ms < 100 else f"{ms:,.0f} ms"


def main() -> None:
    """Time every row and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_000, help="inputs in the batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (best is kept)")
    parser.add_argument("--only", nargs="*", default=None, help="row names to run")
    parser.add_argument(
        "--csim",
        action="store_true",
        help="also count the fixed-point outputs that differ from hepinfer's C simulation",
    )
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    n = args.samples
    header = (
        "| model | layers | framework | hepinfer fixed | hepinfer float | framework "
        "| fixed vs framework | float err |"
    )
    rule = "|---|---|---|---:|---:|---:|---:|---:|"
    if args.csim:
        header, rule = header + " differing from C simulation |", rule + "---:|"
    lines = [header, rule]
    for row in _rows():
        if args.only and row.name not in args.only:
            continue
        source, options, runtime = row.build()
        rng = np.random.default_rng(7)
        x = np.round(rng.uniform(-2, 2, (n, *row.shape)) * 32) / 32
        compiled = hepinfer.compile(source, CONFIG, **options)
        fixed_s, fixed = _best(lambda c=compiled, x=x: c.predict(x), args.repeats)
        float_s, floats = _best(lambda c=compiled, x=x: c.predict(x, mode="float"), args.repeats)
        theirs_s, theirs = _framework(runtime, x, args.repeats)
        ours = np.asarray(floats, dtype=np.float64).reshape(theirs.shape)
        err = float(np.abs(ours - theirs).max() / max(float(np.abs(theirs).max()), 1e-30))
        line = (
            f"| `{row.name}` | {row.layers} | {row.framework} | {_ms(fixed_s)} "
            f"| {_ms(float_s)} | {_ms(theirs_s)} "
            f"| {theirs_s / fixed_s:.2f}x | {err:.1e} |"
        )
        if args.csim:  # the same model's HLS project, compiled and run on every input
            ours_fixed = np.asarray(fixed).reshape(len(x), -1)
            csim = np.asarray(compiled.csim(x)).reshape(ours_fixed.shape)
            line += f" {int(np.count_nonzero(csim != ours_fixed))} of {csim.size} |"
        lines.append(line)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
