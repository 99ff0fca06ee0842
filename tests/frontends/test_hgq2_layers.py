"""HGQ2's table, average and dot layers (standalone `Quantizer`, `QUnaryFunctionLUT`,
`QAveragePooling1D/2D`, `QGlobalAveragePooling1D/2D`, `QAveragePow2`, `QDot`) against hls4ml 1.3.

One HGQ2 model with all of them (`tests/frontends/hgq2_layers_runner.py`: random per-element
quantiser bits, some pruned), one hls4ml conversion in the HGQ2 peer, 2,000 inputs: hepinfer's
emulator equals hls4ml's C simulation bit for bit (at hls4ml's model-level `ap_fixed<16,6>`
and at a narrow mixed per-layer configuration: HGQ2 models carry their own types), its float
mode equals HGQ2's Keras output, and hepinfer's C simulation equals its emulator. A table on a
rank-3 input (which hls4ml 1.3 cannot convert) equals HGQ2's own output. A nested model (a
Keras Sequential of HGQ2 layers used as a layer), which hls4ml 1.3 cannot convert either, is
refused by name.
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
from hepinfer.errors import FrontendError
from hepinfer.frontends import hgq2
from hepinfer.ir.op import Op

RUNNER = Path(__file__).with_name("hgq2_layers_runner.py")
N = 2000
MODEL_LEVEL: dict[str, Any] = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<6,2>", "ReuseFactor": 1},
    "LayerName": {
        "ap2": {"Precision": {"accum": "ap_fixed<8,4>", "result": "ap_fixed<6,3>"}},
        "lut": {"Precision": {"result": "ap_fixed<4,1>"}},
        "dot": {"Precision": {"accum": "ap_fixed<8,3>", "result": "ap_fixed<8,3>"}},
    },
}


@pytest.fixture(scope="module")
def run(hgq2_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One HGQ2 start, one hls4ml conversion: `layers` through Keras and hls4ml, `lut3d`
    through Keras only.
    """
    work = tmp_path_factory.mktemp("hgq2_layers")
    rng = np.random.default_rng(7)
    np.save(work / "x.npy", rng.normal(0.0, 2.0, (N, 8, 8, 2)).astype(np.float32))
    np.save(work / "x3.npy", rng.normal(0.0, 3.0, (N, 4, 4, 2)).astype(np.float32))
    jobs = [
        {"model": "layers", "seed": 3, "x": str(work / "x.npy"), "out": str(work / "layers")},
        {"model": "lut3d", "seed": 4, "x": str(work / "x3.npy"), "out": str(work / "lut3d")},
    ]
    jobs[1]["hls4ml"] = False  # hls4ml 1.3 cannot convert a table on a rank-3 input
    np.save(work / "xn.npy", rng.normal(0.0, 1.0, (16, 6)).astype(np.float32))
    # a nested model: exported, and hls4ml 1.3's refusal recorded (no compile)
    nested = {"model": "nested", "x": str(work / "xn.npy"), "out": str(work / "nested")}
    jobs.append({**nested, "hls4ml_refuses": True})
    (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
    proc = subprocess.run(
        [str(hgq2_python), str(RUNNER), str(work / "spec.json")],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


@pytest.fixture(scope="module")
def compiled(run: Path) -> hepinfer.CompiledModel:
    return hepinfer.compile(run / "layers" / "model.npz", MODEL_LEVEL)


def _flat(model: hepinfer.CompiledModel, y: Any, n: int) -> np.ndarray:
    """The outputs flattened and concatenated in the model's order (as the runner saves them)."""
    ys = [y[name] for name in model.graph.outputs] if isinstance(y, dict) else [y]
    return np.concatenate([np.asarray(v).reshape(n, -1) for v in ys], axis=1)


def _x(run: Path) -> np.ndarray:
    return np.load(run / "x.npy").astype(np.float64)


def test_layers_become_their_ops(compiled: hepinfer.CompiledModel) -> None:
    ops = {n.name: n.op for n in compiled.graph.nodes}
    assert ops["q_in"] is Op.FIXED_POINT_QUANTIZER  # the standalone quantiser, by its name
    assert [ops[n] for n in ("lut_iq", "lut", "lut_oq")] == [
        Op.FIXED_POINT_QUANTIZER,
        Op.UNARY_LUT,
        Op.FIXED_POINT_QUANTIZER,
    ]
    assert ops["ap1"] is ops["ap2"] is Op.AVGPOOL
    assert ops["gap1"] is ops["gap2"] is Op.GLOBAL_AVGPOOL
    assert ops["avg"] is ops["avgp2"] is Op.AVERAGE
    assert ops["dot"] is Op.DOT
    # one entry per value of the input quantiser's widest type
    fixed = compiled.graph.node("lut_iq").out.fixed
    assert fixed is not None
    assert compiled.graph.node("lut").weights["table"].size == 2**fixed.width >= 256


def test_bit_exact_against_hls4ml_csim(run: Path, compiled: hepinfer.CompiledModel) -> None:
    x = _x(run)
    expected = np.load(run / "layers" / "y_hls4ml.npy")
    assert np.array_equal(expected, np.load(run / "layers" / "y_keras.npy"))  # the oracle's claim
    ours = _flat(compiled, compiled.predict(x), N)
    np.testing.assert_array_equal(ours, expected)
    assert min(len(np.unique(col)) for col in ours.T) > 100
    # the types are the model's: a narrow model default and per-layer types change nothing
    other = hepinfer.compile(run / "layers" / "model.npz", MIXED)
    np.testing.assert_array_equal(_flat(other, other.predict(x), N), expected)


def test_float_mode_equals_hgq2_keras(run: Path, compiled: hepinfer.CompiledModel) -> None:
    ours = _flat(compiled, compiled.predict(_x(run), mode="float"), N)
    np.testing.assert_allclose(ours, np.load(run / "layers" / "y_keras.npy"), rtol=1e-5, atol=0)


def test_csim_equals_emulator(run: Path, compiled: hepinfer.CompiledModel) -> None:
    """The `unary_lut` kernel, average pooling's exact quotient, `average` and `dot` in C++
    (io_stream and Xilinx's headers: tests/ops/test_unary_lut.py).
    """
    x = _x(run)[:200]
    fixed = _flat(compiled, compiled.predict(x), 200)
    csim = _flat(compiled, compiled.csim(x, io_type="io_parallel"), 200)
    np.testing.assert_array_equal(csim, fixed)


def test_a_table_on_a_rank_3_input_equals_hgq2(run: Path) -> None:
    """hls4ml 1.3 refuses QUnaryFunctionLUT on a rank-3 input; hepinfer's fixed mode equals
    HGQ2's own output bit for bit (every value on the way is a short fixed-point number, the
    table the one checked against hls4ml above), and so does its float mode.
    """
    x = np.load(run / "x3.npy").astype(np.float64)
    model = hepinfer.compile(run / "lut3d" / "model.npz", MODEL_LEVEL)
    expected = np.load(run / "lut3d" / "y_keras.npy")
    ours = _flat(model, model.predict(x), N)
    np.testing.assert_array_equal(ours, expected)
    np.testing.assert_array_equal(_flat(model, model.predict(x, mode="float"), N), expected)
    assert len(np.unique(ours)) > 100


def test_a_table_without_an_input_quantiser_is_refused() -> None:
    model = {
        "class_name": "Sequential",
        "config": {
            "name": "m",
            "layers": [
                {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 4]}},
                {
                    "module": "hgq.layers.activation",
                    "class_name": "QUnaryFunctionLUT",
                    "config": {"name": "lut", "activation": "tanh"},
                },
            ],
        },
    }
    data = {"__model__": np.array(json.dumps(model)), "__quantizers__": np.array("{}")}
    with pytest.raises(FrontendError, match=r"'lut' \(QUnaryFunctionLUT\) has no exported table"):
        hgq2.convert(data)


def test_a_nested_model_is_refused_as_hls4ml_refuses_it(run: Path) -> None:
    """hls4ml 1.3's Keras 3 path fails on a Keras model used as a layer (its nested-model
    handler reads `data_reader.model`, which its Keras 3 reader lacks); hepinfer refuses the
    model with one error naming the nested model, its class and its HGQ2 layers.
    """
    error = (run / "nested" / "hls4ml_error.txt").read_text()
    assert "IsolatedLayerReader" in error, error or "hls4ml 1.3 converted the nested model"
    match = (
        r"layer 'inner' is a nested Sequential model \(layers: n1 \(QDense\), n2 "
        r"\(QDense\)\).*not supported.*supported: a flat Sequential or functional model"
    )
    with pytest.raises(FrontendError, match=match):
        hepinfer.compile(run / "nested" / "model.npz", MODEL_LEVEL)


def test_a_nested_functional_model_is_refused_by_name() -> None:
    inner = {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "block",
            "layers": [
                {"class_name": "InputLayer", "config": {"name": "xi", "batch_shape": [None, 4]}},
                {
                    "module": "hgq.layers.core.dense",
                    "class_name": "QDense",
                    "config": {"name": "d"},
                },
            ],
        },
    }
    model = {
        "class_name": "Sequential",
        "config": {
            "name": "m",
            "layers": [
                {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 4]}},
                inner,
            ],
        },
    }
    data = {"__model__": np.array(json.dumps(model)), "__quantizers__": np.array("{}")}
    match = r"layer 'block' is a nested Functional model \(layers: d \(QDense\)\)"
    with pytest.raises(FrontendError, match=match):
        hgq2.convert(data)
