"""HGQ2 models (Keras 3, `hgq2` 0.2.0) with every quantiser read as a type.

The oracle test builds an HGQ2 tagger (QConv2D, QMaxPooling2D, QBatchNormalization, QAdd,
QMultiply, QConv1D,
QMaxPooling1D, QSubtract, QMaximum, QMinimum, then a 64-32-32-5 ReLU head of QDense and
QBatchNormDense) with random
weights and random per-element quantiser bits (some pruned, the first saturating) in the HGQ2 peer
(`tests/frontends/hgq2_runner.py`: hgq2 in the hls4ml 1.3 venv), converts it with that
peer's hls4ml (one conversion: the test-time budget) and compares on 2,000 inputs:
hepinfer's emulator with hls4ml's C simulation bit for bit (whatever precision the
configuration names: HGQ2 models carry their own types, as in hls4ml's bit-exact flow),
hepinfer's float mode with HGQ2's own Keras output (equal: every value on the way is a short
fixed-point number, exact in float32; for the tagger and for `jet`, a 16-64-32-32-5 jet
tagger with one type per quantiser), and hepinfer's own C simulation with its emulator.
The same peer run converts `attention` (QEinsumDense, QEinsumDenseBatchnorm, QEinsum,
QSoftmax over the last and a middle axis, a `stable=False` QSoftmax (hls4ml's latency
softmax) with its own per-element input quantiser, QMultiHeadAttention: the runner gives the
last the module name hls4ml 1.3's handler expects) with hls4ml: bit-exact on 2,000 inputs, float mode
within 1e-5 relative of HGQ2 (C simulation == emulator: tests/ops/test_bit_exact_softmax.py,
and benchmarks/RESULTS.md for the whole model; QLinformerAttention, whose hls4ml conversion
the test-time budget leaves out: `benchmarks/bench_hgq2.py --model linformer`).
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
from hepinfer.fixed import FixedType, Overflow
from hepinfer.frontends import hgq2
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.op import Op
from hepinfer.ops import fixed_point_quantizer as fpq

RUNNER = Path(__file__).with_name("hgq2_runner.py")
N = 2000
MODEL_LEVEL: dict[str, Any] = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}}


@pytest.fixture(scope="module")
def runs(hgq2_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One HGQ2 start, one hls4ml conversion: `tagger` through Keras and hls4ml, `jet` (one
    type per quantiser) through Keras only.
    """
    work = tmp_path_factory.mktemp("hgq2")
    rng = np.random.default_rng(7)
    np.save(work / "images.npy", rng.normal(0.0, 2.0, (N, 10, 10, 2)).astype(np.float32))
    np.save(work / "jets.npy", rng.normal(0.0, 2.0, (N, 16)).astype(np.float32))
    np.save(work / "seq.npy", rng.normal(0.0, 2.0, (N, 8, 6)).astype(np.float32))
    jobs = [
        {"model": "tagger", "seed": 1, "x": str(work / "images.npy"), "out": str(work / "tagger")},
        {"model": "jet", "seed": 2, "x": str(work / "jets.npy"), "out": str(work / "jet")},
        {"model": "attention", "seed": 3, "x": str(work / "seq.npy"), "out": str(work / "attn")},
    ]
    jobs[1]["hls4ml"] = False
    (work / "spec.json").write_text(json.dumps({"jobs": jobs}))
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run(
        [str(hgq2_python), str(RUNNER), str(work / "spec.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {
        "tagger": work / "tagger",
        "jet": work / "jet",
        "tagger_x": work / "images.npy",
        "jet_x": work / "jets.npy",
        "attn": work / "attn",
        "attn_x": work / "seq.npy",
    }


def _x(runs: dict[str, Path], model: str) -> np.ndarray:
    return np.load(runs[f"{model}_x"]).astype(np.float64)


def test_quantisers_are_per_element_types(runs: dict[str, Path]) -> None:
    graph = hgq2.load_hgq2(runs["tagger"] / "model.npz")
    ops = [(n.name, n.op) for n in graph.nodes]
    assert ops[:4] == [
        ("x", Op.INPUT),
        ("c1_iq", Op.FIXED_POINT_QUANTIZER),
        ("c1", Op.CONV2D),
        ("c1_relu", Op.RELU),
    ]
    merges = {name: op for name, op in ops if name in ("add", "mul", "sub", "max", "min")}
    assert set(merges.values()) == {Op.ADD, Op.MULTIPLY, Op.SUBTRACT, Op.MAXIMUM, Op.MINIMUM}
    assert ("add_iq1", Op.FIXED_POINT_QUANTIZER) in ops  # one quantiser per merge input
    assert {Op.CONV1D, Op.MAXPOOL, Op.RESHAPE, Op.BATCHNORM} <= {op for _, op in ops}
    c1, d2, d3 = (graph.node(name) for name in ("c1_iq", "d2_iq", "d3_iq"))
    assert c1.attrs["overflow"] == "SAT_SYM"
    assert d2.attrs["overflow"] == "WRAP"
    assert len(fpq.element_types(d2)) > 5  # heterogeneous ...
    assert None in fpq.element_types(d2).values()  # ... with pruned elements
    assert len(fpq.element_types(d3)) == 1  # d3 keeps one type per quantiser
    # hls4ml's input type: the widest parts of c1's quantiser, one more fractional bit (RND),
    # saturating as c1's quantiser does
    k, i, f = fpq.kif(c1)
    want = FixedType(int(k.max() + i.max() + f.max() + 1), int(k.max() + i.max()))
    assert FixedType.parse(graph.node("x").attrs["input_type"]) == want.with_(overflow=Overflow.SAT)


def test_bit_exact_against_hls4ml_csim(runs: dict[str, Path]) -> None:
    x = _x(runs, "tagger")
    expected = np.load(runs["tagger"] / "y_hls4ml.npy")
    assert np.array_equal(expected, np.load(runs["tagger"] / "y_keras.npy"))  # the oracle's claim
    compiled = hepinfer.compile(runs["tagger"] / "model.npz", MODEL_LEVEL)
    ours = np.asarray(compiled.predict(x)).reshape(N, -1)
    np.testing.assert_array_equal(ours, expected)
    assert len(np.unique(ours)) > 1000
    # the types are the model's: a narrow model default and per-layer types change nothing
    mixed = {
        "Model": {"Precision": "ap_fixed<6,2>", "ReuseFactor": 1},
        "LayerName": {"d2": {"Precision": {"weight": "ap_fixed<4,1>", "result": "ap_fixed<8,3>"}}},
    }
    other = hepinfer.compile(runs["tagger"] / "model.npz", mixed)
    np.testing.assert_array_equal(np.asarray(other.predict(x)).reshape(N, -1), expected)


def test_float_mode_equals_hgq2_keras(runs: dict[str, Path]) -> None:
    for model in ("tagger", "jet", "attn"):
        compiled = hepinfer.compile(runs[model] / "model.npz", MODEL_LEVEL)
        ours = np.asarray(compiled.predict(_x(runs, model), mode="float")).reshape(N, -1)
        keras = np.load(runs[model] / "y_keras.npy").reshape(N, -1)
        if model == "attn":  # exp and 1 / x in float64 here, float32 in HGQ2
            np.testing.assert_allclose(ours, keras, rtol=1e-5, atol=0)
        else:
            np.testing.assert_array_equal(ours, keras)


def test_csim_equals_emulator(runs: dict[str, Path]) -> None:
    """The tagger's C simulation (the `fixed_quantizer` kernel; io_stream, the other header
    set and one type per quantiser: tests/ops/test_fixed_point_quantizer.py, test_layers).
    """
    x = _x(runs, "tagger")[:200]
    compiled = hepinfer.compile(runs["tagger"] / "model.npz", MODEL_LEVEL)
    fixed = np.asarray(compiled.predict(x)).reshape(200, -1)
    csim = np.asarray(compiled.csim(x, io_type="io_parallel")).reshape(200, -1)
    np.testing.assert_array_equal(csim, fixed)


# ------------------------------------------------------------------ attention layers


def test_attention_layers_are_einsums_and_bit_exact_softmaxes(runs: dict[str, Path]) -> None:
    """QEinsumDense(Batchnorm), QEinsum, QSoftmax and QMultiHeadAttention as hls4ml 1.3's
    handlers lower them: the attention's projections, QK, softmax (with its output
    quantiser), aV and output projection as nodes of their own.
    """
    graph = hgq2.load_hgq2(runs["attn"] / "model.npz")
    ops = {n.name: n.op for n in graph.nodes}
    assert {ops[n] for n in ("ed1", "edbn", "mha_query", "mha_attention_output")} == {
        Op.EINSUM_DENSE
    }
    assert {ops[n] for n in ("qk", "av", "mha_QK", "mha_aV")} == {Op.EINSUM}
    assert {ops[n] for n in ("smx", "mha_softmax", "smx2", "smx3")} == {Op.BIT_EXACT_SOFTMAX}
    # stable=False: hls4ml's latency form, read through its own input quantiser
    assert graph.node("smx3").attrs["implementation"] == "latency"
    assert "norm_t" not in graph.node("smx3").attrs
    assert graph.node("smx3").inputs == ("smx3_iq",)
    assert len(fpq.element_types(graph.node("smx3_iq"))) > 5
    assert ops["mha_softmax_oq"] is Op.FIXED_POINT_QUANTIZER
    assert graph.node("mha_QK").inputs == ("mha_key_oq", "mha_query_oq")  # Keras: key first
    assert graph.node("smx2").attrs["axes"] == (0,)  # over the sequence: a middle axis
    assert graph.node("mha_softmax").attrs["exp_scale"] == pytest.approx(3**-0.5)
    assert len(fpq.element_types(graph.node("mha_query_iq"))) > 5  # per-element types


def test_attention_bit_exact_against_hls4ml_csim(runs: dict[str, Path]) -> None:
    x = _x(runs, "attn")
    expected = np.load(runs["attn"] / "y_hls4ml.npy")
    keras = np.load(runs["attn"] / "y_keras.npy").reshape(N, -1)
    assert np.array_equal(expected, keras)  # the oracle's claim
    mixed = {
        "Model": {"Precision": "ap_fixed<6,2>", "ReuseFactor": 1},
        "LayerName": {
            "mha_query": {"Precision": {"weight": "ap_fixed<4,1>", "result": "ap_fixed<8,3>"}},
            "smx": {"Precision": {"result": "ap_fixed<8,3>", "table": "ap_fixed<6,2>"}},
            "smx3": {"Precision": {"result": "ap_fixed<8,3>", "table": "ap_fixed<6,2>"}},
        },
    }
    for config in (MODEL_LEVEL, mixed):  # the model's types win, as in hls4ml
        compiled = hepinfer.compile(runs["attn"] / "model.npz", config)
        ours = np.asarray(compiled.predict(x)).reshape(N, -1)
        np.testing.assert_array_equal(ours, expected)
    assert len(np.unique(ours)) > 15
    trace = compiled.trace(x[:200])
    assert len(np.unique(np.asarray(trace["smx3"]))) > 50  # the latency softmax's own output
    # the comparison sees the latency softmax: the stable form in its place parts from hls4ml
    graph = hgq2.load_hgq2(runs["attn"] / "model.npz")
    stable = {"implementation": "stable", "norm_t": "ufixed<7,3,RND,SAT>"}
    other = graph.with_nodes(
        [n.replace(attrs={**n.attrs, **stable}) if n.name == "smx3" else n for n in graph.nodes]
    )
    moved = np.asarray(hepinfer.compile(other, MODEL_LEVEL).predict(x)).reshape(N, -1)
    assert (moved != expected).any(axis=1).mean() > 0.5


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras' own numpy 2 warnings
def test_keras_multiheadattention_is_the_same_lowering(runs: dict[str, Path]) -> None:
    """Keras' own MultiHeadAttention of the same shape (`hepinfer.frontends.keras_mha`) is
    node for node the QMultiHeadAttention lowering of hls4ml 1.3's handler, less the
    quantisers: the same names, edges, shapes, Einsum plans, EinsumDense plans and weight
    shapes, and the 1/sqrt(key_dim) scale in the softmax's exponential table; the softmax is
    the Keras Softmax layer's table softmax instead of HGQ2's bit-exact one.
    """
    from hepinfer.frontends import keras as keras_frontend

    keras = keras_frontend.import_keras("building Keras' MultiHeadAttention")
    model = json.loads(str(np.load(runs["attn"] / "model.npz")["__model__"]))
    (conf,) = [c["config"] for c in model["config"]["layers"] if c["config"]["name"] == "mha"]
    theirs = hgq2.load_hgq2(runs["attn"] / "model.npz")

    def unquantised(name: str) -> str:
        node = theirs.node(name)
        return unquantised(node.inputs[0]) if node.op is Op.FIXED_POINT_QUANTIZER else name

    query = theirs.node(unquantised("mha_query"))
    x = keras.Input(theirs.node(unquantised(query.inputs[0])).out.shape)
    keys = ("num_heads", "key_dim", "value_dim", "use_bias")
    mha = keras.layers.MultiHeadAttention(name="mha", **{k: conf[k] for k in keys})
    ours = keras_frontend.from_keras_model(keras.Model(x, mha(x, x)))
    names = [n.name for n in ours.nodes if n.name.startswith("mha")]
    kept = [n.name for n in theirs.nodes if n.name.startswith("mha")]
    assert names == [n for n in kept if theirs.node(n).op is not Op.FIXED_POINT_QUANTIZER]
    quantisers = ("bit_exact", "kernel_quantizer", "bias_quantizer")
    for name in names:
        a, b = ours.node(name), theirs.node(name)
        assert [u for u in map(unquantised, b.inputs) if u.startswith("mha")] == [
            i for i in a.inputs if i.startswith("mha")
        ], name
        assert a.out.shape == b.out.shape, name
        if b.op is Op.BIT_EXACT_SOFTMAX:
            assert a.op is Op.SOFTMAX
            assert b.attrs["axes"] == (len(b.out.shape) - 1,)  # the last axis, as Softmax's
            assert a.attrs["exp_scale"] == pytest.approx(b.attrs["exp_scale"], rel=1e-12)
            continue
        assert a.op is b.op, name
        assert {k: v for k, v in a.attrs.items() if k not in quantisers} == {
            k: v for k, v in b.attrs.items() if k not in quantisers
        }, name
        assert {k: w.shape for k, w in a.weights.items()} == {
            k: w.shape for k, w in b.weights.items()
        }, name


# ------------------------------------------------------------------ no peer


def _exported(layer_cls: str) -> dict[str, np.ndarray]:
    model = {
        "class_name": "Sequential",
        "config": {
            "name": "m",
            "layers": [
                {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 4]}},
                {"module": "hgq.layers.x", "class_name": layer_cls, "config": {"name": "q1"}},
            ],
        },
    }
    return {"__model__": np.array(json.dumps(model)), "__quantizers__": np.array("{}")}


def test_an_unsupported_hgq2_layer_is_refused_by_name() -> None:
    with pytest.raises(FrontendError, match=r"HGQ2 layer 'q1' of type 'QLSTM' .* QDense"):
        hgq2.convert(_exported("QLSTM"))
    with pytest.raises(FrontendError, match=r"'QMultiHeadAttentionT' .* QMultiHeadAttention"):
        hgq2.convert(_exported("QMultiHeadAttentionT"))


def _softmax_export(stable: bool, table_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    data = _exported("QSoftmax")
    model = json.loads(str(data["__model__"]))
    model["config"]["layers"][1]["config"].update({"axes": [-1], "stable": stable})
    data["__model__"] = np.array(json.dumps(model))
    mode = {"round": "RND", "overflow": "SAT"}
    tags = ("exp_iq", "exp_oq", "inv_iq", "inv_oq") if stable else ("exp_oq", "inv_iq", "inv_oq")
    data["__quantizers__"] = np.array(json.dumps({"q1": dict.fromkeys(tags, mode)}))
    for tag in tags:
        for part, v in (("k", 0), ("i", 2), ("f", 4)):
            data[f"q1/{tag}/{part}"] = np.full(table_shape, v)
    return data


def test_qsoftmax_forms_and_what_hls4ml_does_not_convert_bit_exactly() -> None:
    graph = hgq2.convert(_softmax_export(True, (1, 1)))
    node = graph.node("q1")
    assert node.op is Op.BIT_EXACT_SOFTMAX
    assert node.attrs["norm_t"] == "ap_ufixed<6,2,AP_RND,AP_SAT>"
    latency = hgq2.convert(_softmax_export(False, (1, 1))).node("q1")
    assert latency.attrs["implementation"] == "latency"
    assert latency.attrs["exp_table_t"] == "ap_ufixed<6,2,AP_RND,AP_SAT>"
    assert "norm_t" not in latency.attrs
    no_exp = _softmax_export(False, (1, 1))
    no_exp["__quantizers__"] = np.array(json.dumps({"q1": {"inv_iq": {}, "inv_oq": {}}}))
    with pytest.raises(FrontendError, match=r"'q1' \(QSoftmax, stable=False\) .* \['exp_oq'\]"):
        hgq2.convert(no_exp)
    with pytest.raises(FrontendError, match=r"'q1/exp_iq' has one type per element"):
        hgq2.convert(_softmax_export(True, (1, 4)))


def test_qeinsum_with_an_ellipsis_and_attention_masks_are_refused() -> None:
    model = {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "x",
                    "config": {"name": "x", "batch_shape": [None, 3, 4]},
                },
            ],
        },
    }
    tensor = {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}
    for cls, config, kwargs, match in (
        ("QEinsum", {"equation": "...c,...c->...c"}, {}, r"'q1' \(QEinsum\) .* no '\.\.\.'"),
        (
            "QMultiHeadAttention",
            {},
            {"attention_mask": tensor},
            r"'q1' \(QMultiHeadAttention\) is called with keyword",
        ),
    ):
        layer = {
            "module": "hgq.layers.x",
            "class_name": cls,
            "name": "q1",
            "config": {"name": "q1", **config},
            "inbound_nodes": [
                {"args": [[tensor, tensor]] if cls == "QEinsum" else [tensor], "kwargs": kwargs}
            ],
        }
        spec = {
            **model,
            "config": {
                **model["config"],
                "layers": [*model["config"]["layers"], layer],
                "input_layers": [["x", 0, 0]],
                "output_layers": [["q1", 0, 0]],
            },
        }
        data = {"__model__": np.array(json.dumps(spec)), "__quantizers__": np.array("{}")}
        with pytest.raises(FrontendError, match=match):
            hgq2.convert(data)


def test_data_that_is_not_an_export_is_refused() -> None:
    with pytest.raises(FrontendError, match="not an exported HGQ2 model"):
        hgq2.convert({"kernel": np.zeros(3)})


def test_input_type_wraps_unless_every_quantiser_saturates() -> None:
    b = GraphBuilder("g")
    x = b.input("x", (2,))
    w = {"k": np.array([0, 1]), "i": np.array([3, 1]), "f": np.array([2, 5])}
    nodes = [
        b.node(b.add(f"q{n}", Op.FIXED_POINT_QUANTIZER, [x], {"round": r, "overflow": o}, w))
        for n, (r, o) in enumerate([("RND", "SAT"), ("TRN", "WRAP")])
    ]
    assert hgq2.input_type(nodes[:1]) == FixedType(1 + 3 + 6, 4, True, overflow=Overflow.SAT)
    assert hgq2.input_type(nodes) == FixedType(1 + 3 + 6, 4, True)
