"""ONNX models against hls4ml 1.3's own ONNX converter, bit for bit (issue 13).

hls4ml 1.3 converts an ONNX model only after QONNX's clean-up and channels-last transforms (the
`qonnx` peer: `cleanup_model`, `ConvertToChannelsLastAndClean`, `GemmToMatMul`,
`cleanup_model`, as its documentation says). One model, `onnx_hls4ml_models.tagger`, covers
the ONNX families its handlers convert correctly: Conv 2D (pads), BatchNormalization, Relu,
MaxPool 2D, depthwise Conv (group = channels), LeakyRelu, Reshape, Conv 1D (stride 2), Tanh,
Flatten, QONNX Quant (activations and weights), MatMul + Add, Elu, Selu, Softsign, Softplus,
ThresholdedRelu, Sigmoid, Add / Sub / Mul / Max / Min / Sum of two tensors, Concat, Mul / Div /
Sub / Add by constants, Gemm and Softmax (the logits are an output too: a softmax table would
hide low bits).

One peer start (`onnx_hls4ml_runner.py`) converts it at model level `ap_fixed<16,6>` and at a
mixed per-layer configuration (one hls4ml compile each: the test-time budget) and runs 2,000
inputs through its C simulation. hepinfer reads the ONNX model as written (channels-first) and
QONNX's cleaned channels-last form (what hls4ml converts); both equal hls4ml bit for bit. Float
mode equals QONNX's own executor. What hls4ml 1.3 refuses or gets wrong (Resize, Pad in a model
with channels-last nodes, global pooling and AveragePool after the channels-last transform, 1D
MaxPool, PRelu, a MatMul's pinned result) is in docs/coverage.md; Pad alone is compared in
`benchmarks/bench_onnx_hls4ml.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.frontends import load_model
from hepinfer.ir import Op
from tests.frontends import onnx_hls4ml_models as hm

onnx = pytest.importorskip("onnx")

RUNNER = Path(__file__).with_name("onnx_hls4ml_runner.py")
N = 2000
MODEL_LEVEL: dict[str, Any] = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}


def _pins(pins: dict[str, dict[str, str]]) -> dict[str, Any]:
    layers = {name: {"Precision": p} for name, p in pins.items()}
    return {**MODEL_LEVEL, "LayerName": layers}


#: per-layer types over the model default (hls4ml's layer names: QONNX's node names, which the
#: model already uses)
MIXED: dict[str, Any] = _pins(
    {
        "Conv_0": {
            "weight": "ap_fixed<8,3>",
            "result": "ap_fixed<14,5>",
            "accum": "ap_fixed<20,8>",
        },
        "BatchNormalization_0": {"result": "ap_fixed<12,4,AP_RND,AP_SAT>"},
        "Relu_0": {"result": "ap_ufixed<10,4>"},
        "Conv_1": {"weight": "ap_fixed<6,2>", "result": "ap_fixed<12,5,AP_RND_CONV>"},
        "LeakyRelu_0": {"result": "ap_fixed<12,5>"},
        "Conv_2": {"result": "ap_fixed<14,6>", "accum": "ap_fixed<18,7>"},
        "Tanh_0": {"result": "ap_fixed<10,2>"},
        "Elu_0": {"result": "ap_fixed<12,4>"},
        "Selu_0": {"result": "ap_fixed<14,5,AP_RND>"},
        "Softsign_0": {"result": "ap_fixed<10,2>"},
        "Softplus_0": {"result": "ap_ufixed<12,4>"},
        "ThresholdedRelu_0": {"result": "ap_fixed<12,5>"},
        "Sigmoid_0": {"result": "ap_ufixed<10,1>"},
        "Relu_2": {"result": "ap_ufixed<12,4>"},
        "Tanh_1": {"result": "ap_fixed<10,2>"},
        "Add_9": {"result": "ap_fixed<14,6>"},
        "Sub_0": {"result": "ap_fixed<12,5,AP_RND_CONV,AP_SAT>"},
        "Mul_0": {"result": "ap_fixed<14,4>"},
        "Max_0": {"result": "ap_fixed<12,5>"},
        "Min_0": {"result": "ap_fixed<12,4>"},
        "Sum_0": {"result": "ap_fixed<13,5>"},
        "Mul_1": {"result": "ap_fixed<16,7,AP_RND>"},
        "Div_0": {"result": "ap_fixed<14,5>"},
        "Sub_1": {"result": "ap_fixed<15,6>"},
    }
)


CONFIGS = {"model": MODEL_LEVEL, "mixed": MIXED}


def _rows(outputs: Any, n: int) -> np.ndarray:
    """The outputs of `predict` (one array, or a dict in the model's output order) side by side."""
    parts = list(outputs.values()) if isinstance(outputs, dict) else [outputs]
    return np.concatenate([np.asarray(p).reshape(n, -1) for p in parts], axis=1)


@pytest.fixture(scope="module")
def runs(qonnx_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One peer start: the tagger through QONNX and hls4ml at both configurations."""
    work = tmp_path_factory.mktemp("onnx_hls4ml")
    onnx.save(hm.tagger(), str(work / "tagger.onnx"))
    # [-2, 2] on a 2**-5 grid: exact in ap_fixed<16,6> and in float32
    x = np.round(np.random.default_rng(11).uniform(-2, 2, (N, 2, 8, 8)) * 32) / 32
    np.save(work / "x.npy", x)
    jobs = [
        {
            "onnx": str(work / "tagger.onnx"),
            "x": str(work / "x.npy"),
            "out": str(work / level),
            "config": config,
            "float": level == "model",
        }
        for level, config in CONFIGS.items()
    ]
    (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
    proc = subprocess.run(
        [str(qonnx_python), str(RUNNER), str(work / "spec.json")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "KERAS_BACKEND": "torch"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    return work


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("level", CONFIGS)
def test_bit_exact_against_hls4ml_csim(runs: Path, level: str) -> None:
    x = np.load(runs / "x.npy")
    expected = np.load(runs / level / "y_hls4ml.npy")
    assert expected.shape == (N, 10)  # logits and softmax side by side
    assert len(np.unique(expected)) > 500  # neither saturated nor constant
    for source in (runs / "tagger.onnx", runs / level / "clean.onnx"):
        ours = _rows(hepinfer.compile(source, CONFIGS[level]).predict(x), N)
        differing = int(np.count_nonzero(ours != expected))
        assert differing == 0, (
            f"{source.name}: {differing} of {ours.size} outputs differ from hls4ml's C simulation"
        )


@pytest.mark.oracle
def test_hls4ml_converted_every_family(runs: Path) -> None:
    """The comparison covers what it claims: hls4ml's own layers after its passes."""
    layers = json.loads((runs / "mixed" / "layers.json").read_text())
    classes = {c for _, c, _ in layers}
    assert {
        "Conv2D",
        "DepthwiseConv2D",
        "Conv1D",
        "BatchNormalization",
        "Pooling2D",
        "ParametrizedActivation",
        "Activation",
        "Reshape",
        "Dense",
        "Merge",
        "Concatenate",
        "ApplyAlpha",
        "Softmax",
    } <= classes
    # the per-layer types reached hls4ml's layers
    assert ["Sub_0", "Merge", "fixed<12,5,RND_CONV,SAT,0>"] in layers
    assert ["Selu_0", "Activation", "fixed<14,5,RND,WRAP,0>"] in layers
    model = json.loads((runs / "model" / "layers.json").read_text())
    assert model != layers


@pytest.mark.oracle
def test_float_mode_equals_qonnx(runs: Path) -> None:
    """Float mode against QONNX's own executor (onnxruntime cannot run `Quant`)."""
    x = np.load(runs / "x.npy")
    compiled = hepinfer.compile(runs / "tagger.onnx", MODEL_LEVEL)
    ours = _rows(compiled.predict(x, "float"), N)
    reference = np.load(runs / "model" / "y_qonnx.npy")
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_qonnx_channels_last_conv_weights_are_f_k_c() -> None:
    """QONNX's ConvertToChannelsLast transposes a Conv's weights to (F, *k, C) with its input:
    a channels-last Conv so written equals the channels-first one (no peer needed).
    """
    from onnx import numpy_helper

    standard = hm.tagger()
    cl = onnx.load_from_string(standard.SerializeToString())
    conv = next(n for n in cl.graph.node if n.name == "Conv_0")
    first = onnx.helper.make_node("Transpose", ["x"], ["x_cl"], perm=[0, 2, 3, 1], name="t0")
    back = onnx.helper.make_node(
        "Transpose", ["Conv_0_cl"], ["Conv_0"], perm=[0, 3, 1, 2], name="t1"
    )
    conv.input[0], conv.output[0] = "x_cl", "Conv_0_cl"
    conv.domain = "qonnx.custom_op.channels_last"
    index = list(cl.graph.node).index(conv)
    cl.graph.node.insert(index + 1, back)
    cl.graph.node.insert(index, first)
    init = next(i for i in cl.graph.initializer if i.name == "w_c0")
    w = numpy_helper.to_array(init).transpose(0, 2, 3, 1)
    init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w), "w_c0"))
    x = np.round(np.random.default_rng(3).normal(size=(50, 2, 8, 8)) * 32) / 32
    a = _rows(hepinfer.compile(standard, MODEL_LEVEL).predict(x), len(x))
    b = _rows(hepinfer.compile(cl, MODEL_LEVEL).predict(x), len(x))
    np.testing.assert_array_equal(a, b)
    assert load_model(cl).node("Conv_0").op is Op.CONV2D
