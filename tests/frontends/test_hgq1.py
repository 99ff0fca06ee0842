"""HGQ 1 proxy models (Keras 2 JSON + HDF5 with `FixedPointQuantizer` and `UnaryLUT`).

Oracle tests: one HGQ 0.2.6 model (`tests/frontends/hgq1_runner.py`: HQuantize -> HDense relu
-> HDense -> HActivation tanh as a UnaryLUT -> HDense, random weights, per-element bits from
`trace_minmax`, SAT quantisers), its proxy model saved by Keras, converted once by hls4ml 1.3's
Keras 2 JSON path in the hgq1 peer: on 2,000 inputs (some beyond the calibrated ranges)
hepinfer equals hls4ml's C simulation and the proxy model's Keras output bit for bit.
Reader tests write small proxy models by hand (the layout HGQ saves) and need no peer.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.fixed import Overflow, Quant
from hepinfer.frontends import load_model
from hepinfer.ir.op import Op
from hepinfer.ops import fixed_point_quantizer as fpq

RUNNER = Path(__file__).with_name("hgq1_runner.py")
N = 2000
MODEL_LEVEL: dict[str, Any] = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<6,2>", "ReuseFactor": 1},
    "LayerName": {"d2": {"Precision": {"accum": "ap_fixed<8,4>", "result": "ap_fixed<6,3>"}}},
}


@pytest.fixture(scope="module")
def run(hgq1_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One HGQ start, one hls4ml conversion and compile."""
    work = tmp_path_factory.mktemp("hgq1")
    proc = subprocess.run(
        [str(hgq1_python), str(RUNNER), str(work), "--n", str(N)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


@pytest.fixture(scope="module")
def compiled(run: Path) -> hepinfer.CompiledModel:
    return hepinfer.compile(run / "model.json", MODEL_LEVEL)


def _predict(model: hepinfer.CompiledModel, x: np.ndarray, **kw: Any) -> np.ndarray:
    return np.asarray(model.predict(x, **kw)).reshape(len(x), -1)


def test_proxy_layers_become_their_ops(run: Path, compiled: hepinfer.CompiledModel) -> None:
    graph = compiled.graph
    ops = {n.name: n.op for n in graph.nodes}
    quantizers = [n for n in graph.nodes if n.op is Op.FIXED_POINT_QUANTIZER]
    assert ops["inp_q"] is Op.FIXED_POINT_QUANTIZER  # HQuantize, by its name
    assert [ops[n] for n in ("d1", "d1_quantizer", "d1_relu_quantizer")] == [
        Op.DENSE,
        Op.FIXED_POINT_QUANTIZER,
        Op.FIXED_POINT_QUANTIZER,
    ]
    assert {fpq.modes(q)[1] for q in quantizers} == {Overflow.SAT}
    assert Quant.RND in {fpq.modes(q)[0] for q in quantizers}
    # per-element types: some quantiser has elements of different widths
    assert any(len(np.unique(sum(fpq.kif(q)))) > 1 for q in quantizers)
    (lut,) = [n for n in graph.nodes if n.op is Op.UNARY_LUT]
    config = json.loads((run / "model.json").read_text())
    (layer,) = [la for la in config["config"]["layers"] if la["class_name"] == "UnaryLUT"]
    k, i, f = layer["config"]["kif_in"]
    assert lut.attrs["index_frac"] == f
    assert lut.weights["table"].size == 2 ** (k + i + f)
    # some test inputs lie beyond the input quantiser's range: its SAT mode is exercised
    _, ii, _ = fpq.kif(graph.node("inp_q"))
    x = np.load(run / "x.npy")
    assert np.any(np.abs(x) >= 2.0 ** ii.min())


def test_bit_exact_against_hls4ml_csim(run: Path, compiled: hepinfer.CompiledModel) -> None:
    x = np.load(run / "x.npy").astype(np.float64)
    expected = np.load(run / "y_hls4ml.npy")
    ours = _predict(compiled, x)
    np.testing.assert_array_equal(ours, expected)
    assert min(len(np.unique(col)) for col in ours.T) > 5
    # the types are the model's: a narrow model default and per-layer types change nothing
    other = hepinfer.compile(run / "model.json", MIXED)
    np.testing.assert_array_equal(_predict(other, x), expected)


def test_csim_equals_emulator_in_io_stream(
    run: Path, compiled: hepinfer.CompiledModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy model's C simulation (per-element quantiser types, the LUT) == the emulator,
    in io_stream with hepinfer's headers (the cheap build: 1.7 s of g++ against 3.5 s for
    io_parallel with Xilinx's); `benchmarks/bench_hgq1.py --csim` runs both IO types with
    Xilinx's, and the quantiser and LUT kernels alone run in all four pairs
    (tests/ops/test_fixed_point_quantizer.py, tests/ops/test_unary_lut.py).
    """
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    x = np.load(run / "x.npy").astype(np.float64)[:300]
    want = _predict(compiled, x)
    assert min(len(np.unique(col)) for col in want.T) > 5
    got = np.asarray(compiled.csim(x, io_type="io_stream", headers="hepinfer"))
    np.testing.assert_array_equal(got.reshape(len(x), -1), want)


def test_bit_exact_against_the_proxy_model(run: Path, compiled: hepinfer.CompiledModel) -> None:
    """HGQ's proxy model is exact by design (every value a short fixed-point number in
    float32): hepinfer's fixed and float modes equal its Keras output, also when the proxy
    model is read from the whole-model HDF5 file `model.save` writes.
    """
    x = np.load(run / "x.npy").astype(np.float64)
    expected = np.load(run / "y_proxy.npy")
    np.testing.assert_array_equal(_predict(compiled, x), expected)
    np.testing.assert_array_equal(_predict(compiled, x, mode="float"), expected)
    whole = hepinfer.compile(run / "model.h5", MODEL_LEVEL)
    np.testing.assert_array_equal(_predict(whole, x), expected)


# ------------------------------------------------------------------ reader (no peer)


def _save(tmp: Path, layers: list[dict[str, Any]], weights: dict[str, dict[str, Any]]) -> Path:
    """A Keras 2 functional model JSON + HDF5 weights in the layout Keras writes."""
    import h5py

    for prev, layer in itertools.pairwise(layers):
        layer["inbound_nodes"] = [[[prev["name"], 0, 0, {}]]]
    model = {
        "class_name": "Functional",
        "config": {
            "name": "proxy",
            "layers": layers,
            "input_layers": [[layers[0]["name"], 0, 0]],
            "output_layers": [[layers[-1]["name"], 0, 0]],
        },
    }
    path = tmp / "proxy.json"
    path.write_text(json.dumps(model))
    with h5py.File(tmp / "proxy_weights.h5", "w") as f:
        for layer in layers:
            group = f.create_group(layer["name"])
            arrays = weights.get(layer["name"], {})
            group.attrs["weight_names"] = [f"{k}:0".encode() for k in arrays]
            for key, value in arrays.items():
                group.create_dataset(f"{key}:0", data=np.asarray(value))
    return path


def _input(n: int, name: str = "inp") -> dict[str, Any]:
    config = {"batch_input_shape": [None, n], "name": name}
    return {"class_name": "InputLayer", "name": name, "config": config, "inbound_nodes": []}


def _fpq(name: str, rnd: str = "TRN", sat: str = "WRAP", **extra: Any) -> dict[str, Any]:
    config = {"name": name, "RND": rnd, "SAT": sat, "overrides": {"layers": {}}, "fusible": False}
    return {"class_name": "FixedPointQuantizer", "name": name, "config": {**config, **extra}}


def _kbi(k: Any, b: Any, i: Any) -> dict[str, Any]:
    return {"keep_negative": np.asarray(k, np.int8), "bits": b, "integers": i}


def test_per_element_types_and_pruned_elements(tmp_path: Path) -> None:
    """ap_fixed<bits, integers> per element (ap_ufixed where keep_negative is 0), 0 where
    bits is 0, with the layer's RND and SAT modes.
    """
    kbi = _kbi([[1, 0, 1, 1]], np.int8([[4, 3, 0, 3]]), np.int8([[2, 1, 0, 3]]))
    path = _save(tmp_path, [_input(4), _fpq("q", "RND", "SAT")], {"q": kbi})
    model = hepinfer.compile(path)
    x = np.array([[0.3, -0.7, 5.0, 2.9], [9.0, 9.0, 9.0, -9.0], [-0.125, 1.3, 1.0, -3.5]])
    # element 0: ap_fixed<4,2,RND,SAT> (step 1/4, [-2, 1.75]); 1: ap_ufixed<3,1,RND,SAT>
    # (step 1/4, [0, 1.75]); 2: pruned; 3: ap_fixed<3,3,RND,SAT> (step 1, [-4, 3])
    expected = [[0.25, 0.0, 0.0, 3.0], [1.75, 1.75, 0.0, -4.0], [0.0, 1.25, 0.0, -3.0]]
    np.testing.assert_array_equal(_predict(model, x), expected)
    np.testing.assert_array_equal(_predict(model, x, mode="float"), expected)


def test_unary_lut_is_indexed_by_the_input_bits(tmp_path: Path) -> None:
    """kif_in (1, 1, 1): inputs -2 .. 1.5 on a 1/2 grid; the table in two's complement order."""
    table = np.array([0.0, 0.5, 1.0, 1.5, -2.0, -1.5, -1.0, -0.5]) * 3
    lut = {"class_name": "UnaryLUT", "name": "lut", "config": {"name": "lut", "kif_in": [1, 1, 1]}}
    lut["config"]["kif_out"] = [1, 3, 1]
    q = _kbi(1, np.int8(3), np.int8(2))
    path = _save(tmp_path, [_input(3), _fpq("q"), lut], {"q": q, "lut": {"table": table}})
    model = load_model(path)
    assert model.node("lut").op is Op.UNARY_LUT
    compiled = hepinfer.compile(model)
    x = np.array([[-2.0, -0.5, 1.5], [0.0, 0.7, -1.2]])
    np.testing.assert_array_equal(_predict(compiled, x), 3 * np.floor(x * 2) / 2)


@pytest.mark.parametrize(
    ("layers", "weights", "match"),
    [
        ([_fpq("q", "RND_CONV")], {"q": _kbi(1, 4, 2)}, "RND='RND_CONV'.*supported RND"),
        ([_fpq("q")], {"q": {"bits": 4}}, "has 1 weights; it needs keep_negative, bits"),
        ([_fpq("q")], {"q": _kbi([[1, 1]], [[4, 4]], [[2, 2]])}, r"shape \(1, 2\) does not fit"),
        ([_fpq("q")], {"q": _kbi(2, 4, 2)}, "keep_negative must be 0 or 1"),
        (
            [{"class_name": "UnaryLUT", "name": "t", "config": {"name": "t", "kif_in": [1, 2, 1]}}],
            {"t": {"table": np.zeros(8)}},
            r"table has 8 entries, kif_in \[1, 2, 1\] needs 2\*\*4",
        ),
    ],
)
def test_bad_proxy_layers_are_refused_by_name(
    tmp_path: Path, layers: list[dict[str, Any]], weights: dict[str, Any], match: str
) -> None:
    path = _save(tmp_path, [_input(3), *layers], weights)
    with pytest.raises(FrontendError, match=match):
        load_model(path)


def test_overrides_set_a_convolution_parallelization_factor(tmp_path: Path) -> None:
    conv_config = {"name": "c", "filters": 2, "kernel_size": [3], "strides": [1]}
    conv_config.update({"padding": "valid", "activation": "linear", "use_bias": True})
    conv = {"class_name": "Conv1D", "name": "c", "config": conv_config}
    inp = {"class_name": "InputLayer", "name": "inp", "inbound_nodes": []}
    inp["config"] = {"batch_input_shape": [None, 8, 1], "name": "inp"}
    quant = _fpq("c_quantizer", overrides={"layers": {"c": {"parallelization_factor": 3}}})
    weights = {
        "c": {"kernel": np.full((3, 1, 2), 0.25), "bias": np.zeros(2)},
        "c_quantizer": _kbi(1, 8, 4),
    }
    graph = load_model(_save(tmp_path, [inp, conv, quant], weights))
    # 6 output positions: 3 divides them (a factor that does not is replaced, as in hls4ml)
    assert graph.node("c").attrs["parallelization_factor"] == 3
    assert graph.node("c").attrs["bit_exact"] is True
