"""Keras' own MultiHeadAttention, lowered as hls4ml 1.3 lowers HGQ2's QMultiHeadAttention
(`hepinfer.frontends.keras_mha`).

hls4ml 1.3 converts only HGQ2's layer, so there is no hls4ml oracle for Keras' one: float mode
is compared with Keras' predict (1e-5 relative on 2,000 inputs); fixed mode is exact by
composition: the graph is the nodes hls4ml's handler builds (names, edges, Keras' own
equations and weights, the scale in the softmax's exp table as in its lowering), each of an
op already bit-exact with hls4ml 1.3 (EinsumDense, Einsum, Softmax: their own tests), and the
fixed-mode output equals those ops applied one after the other, each built on its own from
Keras' sub-layers (model-level `ap_fixed<16,6>` and a mixed per-layer configuration); the HLS
project's C simulation equals the emulator with both header sets.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir import Op
from hepinfer.ops import einsum as einsum_op
from hepinfer.ops.einsum_dense import node_data
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

N = 2000
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "mha_query": {
            "Precision": {
                "weight": "ap_fixed<8,2,AP_RND>",
                "result": "ap_fixed<12,4,AP_RND,AP_SAT>",
            }
        },
        "mha_key": {"Precision": {"bias": "ap_fixed<10,3>", "accum": "ap_fixed<20,7>"}},
        "mha_QK": {"Precision": {"result": "ap_fixed<14,6,AP_RND,AP_SAT>"}},
        "mha_softmax": {
            "Precision": {"result": "ap_ufixed<12,1,AP_RND,AP_SAT>", "table": "ap_fixed<18,6>"}
        },
        "mha_aV": {"Precision": {"accum": "ap_fixed<22,8>", "result": "ap_fixed<14,5>"}},
        "mha_attention_output": {"Precision": {"result": "ap_fixed<18,7,AP_RND,AP_SAT>"}},
    },
}


def _randomise(model: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype(np.float32))
    return model


def _models() -> dict[str, tuple[Any, list[tuple[int, ...]]]]:
    """Keras models with MultiHeadAttention: name -> (model, input shapes)."""
    keras = import_keras()
    out: dict[str, tuple[Any, list[tuple[int, ...]]]] = {}
    x = keras.Input((4, 6))
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
    out["self"] = (keras.Model(x, mha(x, x)), [(4, 6)])
    q, v, k = keras.Input((4, 6)), keras.Input((7, 3)), keras.Input((7, 5))
    cross = keras.layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, name="mha")
    out["cross_key_value_dim"] = (keras.Model([q, v, k], cross(q, v, k)), [(4, 6), (7, 3), (7, 5)])
    q, v = keras.Input((4, 6)), keras.Input((5, 3))
    nobias = keras.layers.MultiHeadAttention(
        num_heads=2, key_dim=4, value_dim=2, use_bias=False, dropout=0.1, output_shape=5
    )
    out["cross_no_bias"] = (keras.Model([q, v], nobias(q, v)), [(4, 6), (5, 3)])
    x = keras.Input((5, 8))
    att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    h = keras.layers.LayerNormalization(name="ln1")(keras.layers.Add(name="add1")([x, att]))
    ff = keras.layers.Dense(8, name="ff2")(keras.layers.Dense(12, activation="relu", name="ff1")(h))
    h = keras.layers.LayerNormalization(name="ln2")(keras.layers.Add(name="add2")([h, ff]))
    out["transformer_block"] = (keras.Model(x, h), [(5, 8)])
    for n, (model, _) in enumerate(out.values()):
        _randomise(model, n)
    return out


def test_float_mode_equals_keras(tmp_path: Path) -> None:
    """Each model on 2,000 inputs within 1e-5 relative of Keras' predict (the transformer
    block through a saved `.keras` file, the others in memory).
    """
    rng = np.random.default_rng(7)
    for name, (model, shapes) in _models().items():
        xs = [rng.normal(0.0, 1.0, size=(N, *s)).astype(np.float32) for s in shapes]
        ref = np.asarray(model.predict(xs if len(xs) > 1 else xs[0], verbose=0))
        source: Any = model
        if name == "transformer_block":
            source = tmp_path / "block.keras"
            model.save(source)
        compiled = hepinfer.compile(source, MODEL_LEVEL)
        got = np.asarray(compiled.predict(xs if len(xs) > 1 else xs[0], mode="float"))
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=name)


def test_graph_is_the_qmultiheadattention_lowering() -> None:
    """The nodes, edges, equations and scale of hls4ml 1.3's handler, read from Keras' layer."""
    model, _ = _models()["cross_key_value_dim"]
    layer = model.get_layer("mha")
    graph = hepinfer.compile(model, MODEL_LEVEL).graph
    q_in, v_in, k_in = (n.name for n in graph.nodes[:3])
    expect = {
        "mha_query": (Op.EINSUM_DENSE, [q_in]),
        "mha_key": (Op.EINSUM_DENSE, [k_in]),
        "mha_value": (Op.EINSUM_DENSE, [v_in]),
        "mha_QK": (Op.EINSUM, ["mha_key", "mha_query"]),
        "mha_softmax": (Op.SOFTMAX, ["mha_QK"]),
        "mha_aV": (Op.EINSUM, ["mha_softmax", "mha_value"]),
        "mha_attention_output": (Op.EINSUM_DENSE, ["mha_aV"]),
    }
    assert {n.name: (n.op, list(n.inputs)) for n in graph.nodes[3:]} == expect
    assert graph.node("mha_QK").attrs["equation"] == einsum_op.strip_batch(
        layer._dot_product_equation
    )
    assert graph.node("mha_aV").attrs["equation"] == einsum_op.strip_batch(layer._combine_equation)
    softmax = graph.node("mha_softmax")
    assert softmax.attrs["exp_scale"] == pytest.approx(layer._inverse_sqrt_key_dim, rel=1e-12)
    assert softmax.attrs["exp_scale"] == pytest.approx(1 / math.sqrt(2))
    assert graph.node("mha_softmax").out.shape == (3, 4, 7)  # (heads, query, key)
    assert graph.node("mha_aV").out.shape == (4, 3, 4)  # (query, heads, value_dim)


def _alone(node: Any, sources: list[Any], sub: Any, scale: float) -> Any:
    """`node`'s op built on its own from Keras' sub-layer `sub` (EinsumDense) or equation."""
    b = GraphBuilder("alone")
    ins = [b.input(f"in{i}", s.out.shape) for i, s in enumerate(sources)]
    if node.op is Op.EINSUM_DENSE:
        bias = np.asarray(sub.bias) if sub.bias is not None else None
        eq = sub.equation
        ins_eq, _, out_eq = eq.partition("->")
        stripped = f"{ins_eq.split(',')[0][1:]},{ins_eq.split(',')[1]}->{out_eq[1:]}"
        attrs, weights = node_data(stripped, sources[0].out.shape, np.asarray(sub.kernel), bias)
        out = b.add("n", Op.EINSUM_DENSE, ins, attrs, weights)
    elif node.op is Op.EINSUM:
        shapes = [s.out.shape for s in sources]
        out = b.add("n", Op.EINSUM, ins, einsum_op.node_attrs(sub, *shapes))
    else:
        out = b.add("n", Op.SOFTMAX, ins, {"exp_scale": scale})
    names = {f"in{i}": {"Precision": str(s.out.fixed)} for i, s in enumerate(sources)}
    own = {k: str(v) for k, v in node.precision.items()}
    config = {**MODEL_LEVEL, "LayerName": {**names, "n": {"Precision": own}}}
    return hepinfer.compile(b.build([out]), config)


@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_fixed_mode_is_the_ops_in_sequence(config: dict[str, Any]) -> None:
    """Every node's fixed-mode output equals its op built alone from Keras' sub-layer (its
    kernel, bias, equation; the equations and the scale read from Keras' layer) on the
    previous nodes' outputs, with the node's types: the composition adds nothing.
    """
    model, shapes = _models()["cross_key_value_dim"]
    layer = model.get_layer("mha")
    compiled = hepinfer.compile(model, config)
    graph = compiled.graph
    rng = np.random.default_rng(11)
    xs = [rng.normal(0.0, 1.5, size=(N, *s)) for s in shapes]
    trace = compiled.trace(xs)
    assert len(np.unique(trace["mha_attention_output"])) > 1000
    subs = {
        "mha_query": layer._query_dense,
        "mha_key": layer._key_dense,
        "mha_value": layer._value_dense,
        "mha_attention_output": layer._output_dense,
        "mha_QK": einsum_op.strip_batch(layer._dot_product_equation),
        "mha_aV": einsum_op.strip_batch(layer._combine_equation),
        "mha_softmax": None,
    }
    for name, sub in subs.items():
        node = graph.node(name)
        sources = [graph.node(s) for s in node.inputs]
        alone = _alone(node, sources, sub, float(layer._inverse_sqrt_key_dim))
        ins = [trace[s.name] for s in sources]
        got = np.asarray(alone.predict(ins if len(ins) > 1 else ins[0]))
        np.testing.assert_array_equal(got, trace[name], err_msg=name)


def test_csim_equals_emulator_both_headers() -> None:
    """A small self-attention built with Xilinx's headers and with hepinfer's, in io_parallel
    and in io_stream (hepinfer's own: hls4ml 1.3 has no io_stream attention kernel).
    """
    keras = import_keras()
    x = keras.Input((3, 4))
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, name="mha")
    model = _randomise(keras.Model(x, mha(x, x)), 5)
    compiled = hepinfer.compile(model, MIXED_SMALL)
    xs = np.random.default_rng(2).normal(0.0, 1.5, size=(200, 3, 4))
    expected = np.asarray(compiled.predict(xs))
    assert len(np.unique(expected)) > 100
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):
            got = np.asarray(compiled.csim(xs, io_type=io_type, headers=headers))
            np.testing.assert_array_equal(got, expected, err_msg=f"{io_type}, {headers}")


MIXED_SMALL: dict[str, Any] = {
    **MODEL_LEVEL,
    "LayerName": {
        "mha_softmax": {"Precision": {"result": "ap_ufixed<12,1,AP_RND,AP_SAT>"}},
        "mha_aV": {"Precision": {"result": "ap_fixed<14,5>"}},
    },
}


def test_refusals_name_the_layer_and_what_is_supported() -> None:
    keras = import_keras()
    q, v = keras.Input((4, 6)), keras.Input((5, 6))
    mask = keras.Input((4, 5))
    img = keras.Input((3, 3, 4))

    def mha(**kw: Any) -> Any:
        return keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, name="att", **kw)

    cases = [
        (keras.Model([q, v, mask], mha()(q, v, attention_mask=mask)), r"keyword .*attention_mask"),
        (
            keras.Model([q, v], mha()(q, v, return_attention_scores=True)[0]),
            "return_attention_scores",
        ),
        (keras.Model([q, v], mha()(q, v, use_causal_mask=True)), "use_causal_mask"),
        (keras.Model([q, v], mha()(q, value=v)), r"keyword .*'value'"),
        (keras.Model([q, v], mha(use_gate=True)(q, v)), "use_gate=True"),
        (keras.Model([q, v], mha(attention_axes=(1,))(q, v)), None),  # the default: converts
        (keras.Model(img, mha()(img, img)), r"input of shape \(3, 3, 4\)"),
        (keras.Model([q, v], mha(output_shape=(2, 3))(q, v)), r"output_shape=.* of 2 dimensions"),
    ]
    for model, pattern in cases:
        if pattern is None:
            hepinfer.compile(model, MODEL_LEVEL)
            continue
        with pytest.raises(FrontendError, match=r"'att' \(MultiHeadAttention\): .*" + pattern) as e:
            hepinfer.compile(model, MODEL_LEVEL)
        assert "supported: query, value and key by position" in str(e.value)


def _keras2_files(tmp_path: Path, model: Any, kwargs: dict[str, Any]) -> tuple[Path, Path]:
    """`model` (inputs q, v, k; one MultiHeadAttention 'mha') as tf.keras 2 writes it: the
    value and key as keyword tensors of the inbound node (`[["q", 0, 0, {"value": ["v", 0,
    0], "key": ["k", 0, 0]}]]`, as tf.keras 2.14's `to_json`), weights `mha/query/kernel:0`,
    ... in Keras' order (`save_weights`).
    """
    h5py = pytest.importorskip("h5py")
    layer = model.get_layer("mha")
    names = ("q", "v", "k")
    inputs = [
        {
            "class_name": "InputLayer",
            "config": {"batch_input_shape": [None, *t.shape[1:]], "name": n},
            "name": n,
            "inbound_nodes": [],
        }
        for n, t in zip(names, model.inputs, strict=True)
    ]
    conf = {k: layer.get_config()[k] for k in ("num_heads", "key_dim", "value_dim", "use_bias")}
    mha = {
        "class_name": "MultiHeadAttention",
        "config": {"name": "mha", **conf, "output_shape": None, "attention_axes": None},
        "name": "mha",
        "inbound_nodes": [[["q", 0, 0, kwargs]]],
    }
    config = {
        "input_layers": [[n, 0, 0] for n in names],
        "output_layers": [["mha", 0, 0]],
        "layers": [*inputs, mha],
    }
    arch = tmp_path / "m.json"
    arch.write_text(json.dumps({"class_name": "Functional", "config": config}))
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in (*names, "mha")]
        for n in names:
            f.create_group(n).attrs["weight_names"] = []
        group = f.create_group("mha")
        paths = [f"mha/{w.path.split('/', 1)[1]}:0" for w in layer.weights]
        for path, w in zip(paths, layer.get_weights(), strict=True):
            group.create_dataset(path, data=w)
        group.attrs["weight_names"] = [p.encode() for p in paths]
    return arch, tmp_path / "m.h5"


def test_keras2_json_h5(tmp_path: Path) -> None:
    """The Keras 2 form of the cross-attention model (value and key by keyword) converts to
    the same graph and equals Keras' predict; a mask by keyword is refused by name.
    """
    from hepinfer.frontends.keras import load_json_h5

    model, shapes = _models()["cross_key_value_dim"]
    refs = {"value": ["v", 0, 0], "key": ["k", 0, 0]}
    graph = load_json_h5(*_keras2_files(tmp_path, model, refs))
    assert [n.name for n in graph.nodes][3:] == [
        f"mha_{s}" for s in ("query", "key", "value", "QK", "softmax", "aV", "attention_output")
    ]
    assert list(graph.node("mha_key").inputs) == ["k"]
    rng = np.random.default_rng(4)
    xs = [rng.normal(0.0, 1.0, size=(N, *s)).astype(np.float32) for s in shapes]
    ref = np.asarray(model.predict(xs, verbose=0))
    got = np.asarray(hepinfer.compile(graph, MODEL_LEVEL).predict(xs, mode="float"))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    masked = {**refs, "attention_mask": ["k", 0, 0]}
    with pytest.raises(
        FrontendError, match=r"'mha' \(MultiHeadAttention\): called with keyword .*attention_mask"
    ):
        load_json_h5(*_keras2_files(tmp_path, model, masked))


def test_hepinfer_auto_rule_widens_the_scores_for_the_scale() -> None:
    """With hepinfer's rule the `auto` result of a softmax input keeps 5 integer bits (exp(-16) ~ 0); the
    scores are scaled by 1/sqrt(key_dim) inside the table, so they keep ceil(log2(sqrt(16)))
    = 2 more.
    """
    keras = import_keras()
    x = keras.Input((4, 6))
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=16, name="mha")
    model = _randomise(keras.Model(x, mha(x, x)), 3)
    auto = {
        "Auto": "hepinfer",
        "Model": {
            "Precision": {
                "default": "ap_fixed<16,6>",
                "weight": "auto",
                "accum": "auto",
                "result": "auto",
            }
        },
    }
    scores = hepinfer.compile(model, auto).graph.node("mha_QK").out.fixed
    assert scores is not None
    assert (scores.integer, scores.overflow.name) == (7, "SAT")  # capped (the accum: 23)
