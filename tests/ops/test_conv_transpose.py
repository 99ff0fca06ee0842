"""ConvTranspose (Keras Conv1DTranspose / Conv2DTranspose, ONNX ConvTranspose, PyTorch
nn.ConvTranspose1d/2d). hls4ml 1.3 converts none of them, so the oracles are the frameworks'
float outputs and, for fixed point, a direct integer computation written here: each output
the bias plus, over the (input position, kernel tap) pairs that reach it, the products cast
to `accum_t` (the scatter form of the layer, not the zero-grid convolution hepinfer runs),
the sum cast to `result_t`. C simulation == emulator in both IO types with both header sets.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError, GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray, wide_type
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.ir import Node, Op, TensorType
from hepinfer.ir.graph import NodePrecision
from hepinfer.ops import conv_transpose, spec
from hepinfer.ops.dense import accumulate
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras_file

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "x_in": {"Precision": {"result": "ap_fixed<12,4,AP_RND,AP_SAT>"}},
        "ct1": {
            "Precision": {
                "weight": "ap_fixed<8,2>",
                "bias": "ap_fixed<10,3>",
                "accum": "ap_fixed<24,8>",
                "result": "ap_fixed<12,5,AP_RND,AP_SAT>",
            }
        },
        "ct2": {
            "Precision": {
                "weight": "ap_fixed<9,3,AP_RND>",
                "accum": "ap_fixed<18,7,AP_RND_CONV>",
                "result": "ap_fixed<14,6,AP_RND_CONV,AP_SAT>",
            }
        },
    },
}
N_FIXED = 2000
#: MIXED with a saturating accumulator in ct2 (the order of the terms matters there: the
#: emulator, the C++ kernel and the RTL add them in the flipped window's order)
MIXED_SAT: dict[str, Any] = {
    **MIXED,
    "LayerName": {
        **MIXED["LayerName"],
        "ct2": {
            "Precision": {
                **MIXED["LayerName"]["ct2"]["Precision"],
                "accum": "ap_fixed<12,3,AP_RND,AP_SAT>",
            }
        },
    },
}


def direct_float(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    extra: tuple[int, ...],
) -> np.ndarray:
    """The scatter form in float: x (batch, *spatial, C), w (*k, F, C) as Keras holds it."""
    rank = x.ndim - 2
    k = w.shape[:rank]
    out = [
        (x.shape[1 + i] - 1) * strides[i] + k[i] - pads[i] - pads[rank + i] + extra[i]
        for i in range(rank)
    ]
    y = np.zeros((x.shape[0], *out, w.shape[-2])) + b
    for i in itertools.product(*(range(d) for d in x.shape[1 : rank + 1])):
        for t in itertools.product(*(range(d) for d in k)):
            o = tuple(i[a] * strides[a] + t[a] - pads[a] for a in range(rank))
            if all(0 <= o[a] < out[a] for a in range(rank)):
                y[(slice(None), *o)] += x[(slice(None), *i)] @ w[t].T
    return y


def direct_fixed(
    xm: np.ndarray,
    tx: FixedType,
    w: np.ndarray,
    b: np.ndarray,
    types: dict[str, FixedType],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
) -> np.ndarray:
    """The scatter form on mantissas (wrapping accumulators: the order of the terms is free):
    every product cast to `accum`, added to the bias cast to `accum`, wrapped, cast to
    `result`. Returns the result's mantissas.
    """
    tw, tb, ta, tr = (types[v] for v in ("weight", "bias", "accum", "result"))
    rank = xm.ndim - 2
    k = w.shape[:rank]
    wm = tw.to_mantissa(w)
    pt = FixedType(tx.width + tw.width, tx.integer + tw.integer, True)
    out = [
        (xm.shape[1 + i] - 1) * strides[i] + k[i] - pads[i] - pads[rank + i] for i in range(rank)
    ]
    bias = ta.cast_mantissa(tb.to_mantissa(b), tb)
    acc = np.zeros((xm.shape[0], *out, w.shape[-2]), dtype=np.int64) + bias
    for i in itertools.product(*(range(d) for d in xm.shape[1 : rank + 1])):
        for t in itertools.product(*(range(d) for d in k)):
            o = tuple(i[a] * strides[a] + t[a] - pads[a] for a in range(rank))
            if all(0 <= o[a] < out[a] for a in range(rank)):
                prod = xm[(slice(None), *i)][:, None, :] * wm[t][None]  # (batch, F, C)
                acc[(slice(None), *o)] += ta.cast_mantissa(prod, pt).sum(axis=-1)
    acc = ta.cast_mantissa(acc, wide_type(ta.frac))
    return tr.cast_mantissa(acc, ta)


def _node(kernel: np.ndarray, attrs: dict[str, Any], in_shape: tuple[int, ...]) -> Node:
    weights = {"kernel": kernel, "bias": np.arange(kernel.shape[-1]) * 0.25}
    node = Node("n", Op.CONV_TRANSPOSE, ("x",), TensorType((1,)), attrs, weights)
    return node.replace(out=TensorType(spec(Op.CONV_TRANSPOSE).shape(node, [TensorType(in_shape)])))


@pytest.mark.parametrize(
    ("spatial", "k", "s", "pads", "extra"),
    [
        ((5, 4), (3, 3), (2, 2), (1, 0, 1, 1), (1, 0)),
        ((4, 3), (2, 3), (3, 1), (0, 0, 0, 0), (2, 0)),
        ((3, 3), (4, 4), (1, 1), (2, 1, 2, 3), (0, 0)),
        ((6,), (3,), (2,), (0, -1), (0,)),  # a negative end pad: one more position (bias only)
        ((6,), (1,), (3,), (0, 0), (2,)),
    ],
)
def test_semantics_equal_the_scatter_form(
    spatial: tuple[int, ...],
    k: tuple[int, ...],
    s: tuple[int, ...],
    pads: tuple[int, ...],
    extra: tuple[int, ...],
) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(*k, 2, 3))  # Keras' (*k, F, C)
    rank = len(k)
    kernel = np.flip(w, tuple(range(rank))).swapaxes(-1, -2)
    node = _node(kernel, {"strides": s, "pads": pads, "output_padding": extra}, (*spatial, 3))
    x = rng.normal(size=(4, *spatial, 3))
    want = direct_float(x, w, node.weights["bias"], s, pads, extra)
    got = spec(Op.CONV_TRANSPOSE).run_float(node, [x])
    assert got.shape == want.shape == (4, *node.out.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # fixed point: the emulator's phases equal the zero-grid convolution (the HLS kernel's
    # and the RTL's form), also with a saturating accumulator (the order of the terms counts)
    types = {
        "weight": FixedType.parse("ap_fixed<8,2,AP_RND>"),
        "bias": FixedType.parse("ap_fixed<8,3>"),
        "accum": FixedType.parse("ap_fixed<9,3,AP_RND,AP_SAT>"),
        "result": FixedType.parse("ap_fixed<8,3,AP_RND_CONV,AP_SAT>"),
    }
    node = node.replace(precision=NodePrecision(**types))
    fx = FxArray.from_float(
        rng.normal(0, 2, size=(300, *spatial, 3)), FixedType.parse("ap_fixed<10,4>")
    )
    mine = conv_transpose.run_fixed(node, [fx])
    cols, _ = conv_transpose._cols(node, fx.m)
    tw, ta, tr = types["weight"], types["accum"], types["result"]
    bias = ta.cast_mantissa(types["bias"].to_mantissa(node.weights["bias"]), types["bias"])
    acc = accumulate(cols, tw.to_mantissa(kernel.reshape(-1, kernel.shape[-1])), fx.t, tw, ta, bias)
    grid_form = tr.cast_mantissa(acc, ta).reshape(mine.m.shape)
    np.testing.assert_array_equal(mine.m, grid_form)
    assert np.count_nonzero(np.abs(grid_form) == tr.max_mantissa) > 0  # saturation is exercised


def test_bad_settings_are_refused() -> None:
    kernel = np.ones((3, 3, 2, 2))
    with pytest.raises(GraphError, match="dilation 1"):
        _node(kernel, {"strides": (1, 1), "dilations": (2, 2)}, (4, 4, 2))
    with pytest.raises(GraphError, match="reduce the pads"):
        _node(kernel, {"strides": (1, 1), "pads": (3, 0, 3, 0)}, (1, 1, 2))
    with pytest.raises(GraphError, match="does not fit"):
        _node(kernel, {}, (4, 4, 3))


def layers_2d(rng: np.random.Generator) -> list[dict[str, Any]]:
    """(5, 4, 3) -> Conv2DTranspose stride 2 'same' -> ReLU -> Conv2DTranspose (2, 3) stride
    (2, 1) 'valid' with output_padding -> Flatten -> Dense.
    """
    return [
        {
            "class": "Conv2DTranspose",
            "config": {
                "filters": 4,
                "kernel_size": 3,
                "strides": 2,
                "padding": "same",
                "name": "ct1",
            },
            "weights": [rng.normal(0, 0.5, size=(3, 3, 4, 3)), rng.normal(0, 0.5, size=4)],
        },
        {"class": "ReLU", "config": {"name": "act"}},
        {
            "class": "Conv2DTranspose",
            "config": {
                "filters": 2,
                "kernel_size": (2, 3),
                "strides": (2, 1),
                "padding": "valid",
                "output_padding": (1, 0),
                "name": "ct2",
            },
            "weights": [rng.normal(0, 0.5, size=(2, 3, 2, 4)), rng.normal(0, 0.5, size=2)],
        },
        {"class": "Flatten", "config": {"name": "flat"}},
        {
            "class": "Dense",
            "config": {"units": 3, "name": "out"},
            "weights": [rng.normal(0, 0.1, size=(21 * 10 * 2, 3)), rng.normal(0, 0.5, size=3)],
        },
    ]


def layers_1d(rng: np.random.Generator) -> list[dict[str, Any]]:
    """(7, 3) -> Conv1DTranspose stride 2 'same' (even kernel) -> Conv1DTranspose stride 3 'valid'."""
    return [
        {
            "class": "Conv1DTranspose",
            "config": {
                "filters": 4,
                "kernel_size": 4,
                "strides": 2,
                "padding": "same",
                "name": "ct1",
            },
            "weights": [rng.normal(0, 0.5, size=(4, 4, 3)), rng.normal(0, 0.5, size=4)],
        },
        {
            "class": "Conv1DTranspose",
            "config": {"filters": 2, "kernel_size": 2, "strides": 3, "name": "ct2"},
            "weights": [rng.normal(0, 0.5, size=(2, 2, 4)), rng.normal(0, 0.5, size=2)],
        },
    ]


SHAPES = {"2d": (5, 4, 3), "1d": (7, 3)}
LAYERS = {"2d": layers_2d, "1d": layers_1d}


@pytest.fixture(scope="module", params=list(SHAPES))
def keras_model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, list[dict[str, Any]]]:
    kind = str(request.param)
    spec_ = LAYERS[kind](np.random.default_rng(5))
    path = keras_file(SHAPES[kind], spec_, tmp_path_factory.mktemp("k") / f"convt_{kind}.keras")
    return kind, path, spec_


def test_keras_float_mode_matches_keras(keras_model: tuple[str, Path, list]) -> None:
    keras = import_keras()
    kind, path, _ = keras_model
    model = hepinfer.compile(path, MODEL_LEVEL)
    assert [n.op for n in model.graph.nodes].count(Op.CONV_TRANSPOSE) == 2
    x = np.random.default_rng(1).normal(0, 2, size=(300, *SHAPES[kind]))
    ref = np.asarray(keras.models.load_model(path).predict(x.astype(np.float32), verbose=0))
    got = np.asarray(model.predict(x, mode="float"))
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def _types(model: Any, name: str) -> dict[str, FixedType]:
    node = model.graph.node(name)
    return {v: getattr(node.precision, v) for v in ("weight", "bias", "accum", "result")}


@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_fixed_mode_equals_the_integer_scatter_form(
    keras_model: tuple[str, Path, list], config: dict[str, Any]
) -> None:
    kind, path, spec_ = keras_model
    model = hepinfer.compile(path, config)
    x = np.random.default_rng(2).normal(0, 2, size=(N_FIXED, *SHAPES[kind]))
    trace = model.trace(x)
    graph = model.graph
    changed = 0
    for entry in spec_[:1] + [e for e in spec_ if e["config"]["name"] == "ct2"]:
        name = entry["config"]["name"]
        node = graph.node(name)
        src = graph.node(node.inputs[0])
        tx = src.out.fixed
        assert tx is not None
        xm = tx.to_mantissa(np.asarray(trace[src.name]))
        w, b = (np.asarray(a, dtype=np.float64) for a in entry["weights"])
        types = _types(model, name)
        pads = node.attrs["pads"]
        want = direct_fixed(xm, tx, w, b, types, node.attrs["strides"], pads)
        got = types["result"].to_mantissa(np.asarray(trace[name]))
        assert got.shape == want.shape
        assert int(np.count_nonzero(got != want)) == 0, name
        changed += int(np.count_nonzero(got))
    assert changed > 0  # the comparison sees values, not zeros


def test_mixed_types_change_the_outputs(keras_model: tuple[str, Path, list]) -> None:
    """Control: the mixed configuration reaches the ConvTranspose nodes (outputs differ)."""
    kind, path, _ = keras_model
    x = np.random.default_rng(3).normal(0, 2, size=(200, *SHAPES[kind]))
    a = hepinfer.compile(path, MODEL_LEVEL).trace(x)["ct1"]
    b = hepinfer.compile(path, MIXED).trace(x)["ct1"]
    assert np.count_nonzero(np.asarray(a) != np.asarray(b)) > 0


def test_keras_refusals() -> None:
    keras = import_keras()
    from hepinfer.frontends.keras import from_keras_model

    inputs = keras.Input((4, 4, 2))
    bad = keras.Model(inputs, keras.layers.Conv2DTranspose(2, 3, dilation_rate=2, name="d")(inputs))
    with pytest.raises(FrontendError, match=r"'d' \(Conv2DTranspose\): dilation_rate=\(2, 2\)"):
        from_keras_model(bad)


def test_csim_equals_emulator_and_estimate(
    keras_model: tuple[str, Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2D: io_parallel with both header sets, io_stream with hepinfer's; 1D: io_stream with
    Xilinx's and io_parallel with hepinfer's (five C builds in all), at MIXED_SAT.
    """
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    kind, path, _ = keras_model
    model = hepinfer.compile(path, MIXED_SAT)
    x = np.random.default_rng(6).normal(0, 3, size=(300, *SHAPES[kind]))
    want = np.asarray(model.predict(x)).reshape(len(x), -1)
    runs = {
        "2d": [("io_parallel", "xilinx"), ("io_parallel", "hepinfer"), ("io_stream", "hepinfer")],
        "1d": [("io_stream", "xilinx"), ("io_parallel", "hepinfer")],
    }[kind]
    done = 0
    for io_type, headers in runs:
        if headers == "xilinx" and find_ap_types_headers() is None:
            continue
        ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
        np.testing.assert_array_equal(ours.reshape(len(x), -1), want)
        done += 1
    assert done
    est = model.estimate()
    layers = {layer.name: layer for layer in est.layers}
    assert {"ct1", "ct2"} <= set(layers)
    assert layers["ct1"].latency_cycles > 0


def test_torch_modules_match_torch() -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.frontends.torch import from_torch_module

    torch.manual_seed(0)
    net2 = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
        torch.nn.ReLU(),
        torch.nn.ConvTranspose2d(4, 2, (2, 3), stride=(1, 2), bias=False),
        torch.nn.Flatten(),
    ).eval()
    net1 = torch.nn.Sequential(torch.nn.ConvTranspose1d(3, 2, 4, stride=3, padding=2)).eval()
    for net, shape in ((net2, (3, 5, 4)), (net1, (3, 7))):
        graph = from_torch_module(net, shape)
        assert Op.CONV_TRANSPOSE in {n.op for n in graph.nodes}
        x = np.random.default_rng(4).normal(size=(200, *shape))
        ref = net(torch.tensor(x, dtype=torch.float32)).detach().numpy()
        if ref.ndim == 3:  # a convolution's output stays channels-last (the frontend's rule)
            ref = ref.transpose(0, 2, 1)
        got = np.asarray(hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float"))
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    grouped = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 4, 3, groups=2))
    with pytest.raises(FrontendError, match=r"groups=2.*supported: padding_mode 'zeros', groups 1"):
        from_torch_module(grouped, (4, 5, 5))


def _onnx_convt(rank: int, attrs: dict[str, Any], seed: int = 0) -> Any:
    from tests.frontends import onnx_ops_models as om

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(3, 4, *(3, 2)[:rank])) * 0.5
    nodes = [om.node("ConvTranspose", ["x", "w", "b"], "y", **attrs)]
    inits = {"w": w, "b": rng.normal(size=4)}
    return om.model(nodes, inits, ["N", 3, *(5, 4)[:rank]], "y")


@pytest.mark.parametrize(
    ("rank", "attrs"),
    [
        (2, {"strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 0]}),
        (2, {"strides": [2, 3], "output_shape": [10, 12]}),
        (2, {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
        (2, {"strides": [3, 2], "auto_pad": "SAME_LOWER"}),
        (1, {"strides": [3], "pads": [1, 2]}),
    ],
    ids=["pads", "output_shape", "same_upper", "same_lower", "1d"],
)
def test_onnx_matches_onnxruntime(rank: int, attrs: dict[str, Any]) -> None:
    pytest.importorskip("onnxruntime")
    from hepinfer.emulate import emulate_float
    from hepinfer.frontends import load_model
    from tests.frontends import onnx_ops_models as om

    m = _onnx_convt(rank, attrs)
    x = np.random.default_rng(1).normal(size=(200, 3, *(5, 4)[:rank]))
    graph = load_model(m)
    assert Op.CONV_TRANSPOSE in {n.op for n in graph.nodes}
    got = emulate_float(graph, x)[graph.outputs[0]]
    want = np.moveaxis(om.run_ort(m, x), 1, -1)  # the IR's output stays channels-last
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_onnx_export_of_torch_matches_onnxruntime(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from hepinfer.emulate import emulate_float
    from hepinfer.frontends import load_model
    from tests.frontends import onnx_ops_models as om

    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1), torch.nn.Tanh()
    ).eval()
    path = tmp_path / "ct.onnx"
    torch.onnx.export(
        net,
        (torch.zeros(1, 2, 4, 3),),
        str(path),
        input_names=["x"],
        dynamo=False,
        dynamic_axes={"x": {0: "N"}},
    )
    import onnx

    m = onnx.load(str(path))
    graph = load_model(m)
    x = np.random.default_rng(2).normal(size=(100, 2, 4, 3))
    got = emulate_float(graph, x)[graph.outputs[0]]
    want = np.moveaxis(om.run_ort(m, x), 1, -1)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_saturating_accumulator_saturates(tmp_path: Path) -> None:
    """Control for MIXED_SAT: ct2's narrow saturating accumulator changes its outputs."""
    import_keras()
    path = keras_file(SHAPES["2d"], layers_2d(np.random.default_rng(5)), tmp_path / "sat.keras")
    x = np.random.default_rng(3).normal(0, 3, size=(200, *SHAPES["2d"]))
    a = hepinfer.compile(path, MIXED).trace(x)["ct2"]
    b = hepinfer.compile(path, MIXED_SAT).trace(x)["ct2"]
    assert np.count_nonzero(np.asarray(a) != np.asarray(b)) > 0


def test_rtl_equals_the_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The RTL hook (one Verilator build): a 1D and a 2D ConvTranspose, one with a
    saturating accumulator, equal the emulator bit for bit.
    """
    from hepinfer.frontends.builder import GraphBuilder
    from tests.rtl.conftest import need

    need("verilator")
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))  # a cold build, like CI
    rng = np.random.default_rng(8)
    b = GraphBuilder("convt")
    x = b.input("x", (4, 2))
    y = b.input("y", (3, 3, 2))
    w1 = {"kernel": rng.normal(0, 0.5, size=(3, 2, 2)), "bias": rng.normal(0, 0.5, size=2)}
    a1 = {"strides": (2,), "pads": (1, 0), "output_padding": (1,)}
    w2 = {"kernel": rng.normal(0, 0.5, size=(2, 3, 2, 2)), "bias": rng.normal(0, 0.5, size=2)}
    a2 = {"strides": (2, 1), "pads": (0, 1, 0, 0)}
    outs = [
        b.add("t1", Op.CONV_TRANSPOSE, [x], a1, w1),
        b.add("t2", Op.CONV_TRANSPOSE, [y], a2, w2),
    ]
    config = {
        "Model": {"Precision": "ap_fixed<10,3>"},
        "LayerName": {
            "t1": {
                "Precision": {"accum": "ap_fixed<9,2,AP_TRN,AP_SAT>", "weight": "ap_fixed<6,1>"}
            },
            "t2": {"Precision": {"result": "ap_fixed<8,3,AP_RND,AP_SAT>"}},
        },
    }
    model = hepinfer.compile(b.build(outs), config)
    n = 2000
    inputs = {"x": rng.normal(0, 2, size=(n, 4, 2)), "y": rng.normal(0, 2, size=(n, 3, 3, 2))}
    result = model.rtlsim(inputs)
    expected = model.predict(inputs)
    assert isinstance(expected, dict)
    for name, want in expected.items():
        np.testing.assert_array_equal(result.outputs[name].reshape(want.shape), want, err_msg=name)


def test_onnx_refusals_name_the_node_and_the_supported_settings() -> None:
    pytest.importorskip("onnx")
    from hepinfer.frontends import load_model

    with pytest.raises(FrontendError, match=r"ConvTranspose 'y': group=3.*supported: group 1"):
        load_model(_onnx_convt(2, {"group": 3}))
    with pytest.raises(FrontendError, match=r"dilations=\(2, 2\).*dilation 1"):
        load_model(_onnx_convt(2, {"dilations": [2, 2]}))


def test_keras2_json_reads_the_same_layer() -> None:
    """Keras 2's JSON spelling (lists, `batch_input_shape`, a Sequential, an activation)."""
    from hepinfer.frontends.keras import convert_config

    rng = np.random.default_rng(9)
    w, b = rng.normal(size=(3, 2, 4, 2)), rng.normal(size=4)
    cfg = {
        "name": "ct",
        "filters": 4,
        "kernel_size": [3, 2],
        "strides": [2, 2],
        "padding": "same",
        "output_padding": None,
        "dilation_rate": [1, 1],
        "activation": "relu",
        "use_bias": True,
    }
    layers: list[dict[str, Any]] = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4, 3, 2], "name": "i"}},
        {"class_name": "Conv2DTranspose", "config": cfg},
    ]
    graph = convert_config(
        {"class_name": "Sequential", "config": {"name": "s", "layers": layers}},
        lambda name: [w, b] if name == "ct" else [],
    )
    assert [n.op for n in graph.nodes] == [Op.INPUT, Op.CONV_TRANSPOSE, Op.RELU]
    x = rng.normal(size=(30, 4, 3, 2))
    node = graph.node("ct")
    want = np.maximum(direct_float(x, w, b, (2, 2), node.attrs["pads"], (0, 0)), 0)
    assert want.shape[1:3] == (8, 6)  # 'same': in * stride
    got = hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_firmware_lint_is_clean(
    keras_model: tuple[str, Path, list], io_type: str, tmp_path: Path
) -> None:
    """The written project passes the firmware lint (what Vitis HLS could not synthesise)."""
    pytest.importorskip("clang.cindex", reason="the firmware lint needs libclang")
    from hepinfer.hls.lint import lint_project
    from hepinfer.hls.writer import render

    _, path, _ = keras_model
    model = hepinfer.compile(path, MIXED)
    root = render(model.graph, io_type=io_type).write(tmp_path / "prj")
    assert "conv_transpose_2d_cl" in (root / "firmware" / "parameters.h").read_text() or any(
        "conv_transpose_2d_cl" in f.read_text() for f in (root / "firmware").glob("*.cpp")
    )
    assert lint_project(root) == []


@pytest.mark.parametrize(
    ("k", "s", "extra", "padding"),
    [
        (3, 2, 1, "same"),
        (4, 2, 1, "same"),
        (3, 3, 2, "same"),
        (2, 3, None, "same"),
        (5, 2, 0, "same"),
        (3, 2, 1, "valid"),
        (2, 3, None, "valid"),  # k < s: `max(k, s) - k` bias-only positions at the end
        (3, 1, None, "same"),
    ],
)
def test_keras_padding_rules_match_keras(k: int, s: int, extra: int | None, padding: str) -> None:
    """Keras' output sizes and pads for 'same'/'valid' with and without output_padding."""
    keras = import_keras()
    inputs = keras.Input((5, 3))
    layer = keras.layers.Conv1DTranspose(2, k, strides=s, padding=padding, output_padding=extra)
    model = keras.Model(inputs, layer(inputs))
    x = np.random.default_rng(k * 10 + s).normal(size=(20, 5, 3))
    ref = np.asarray(model.predict(x.astype(np.float32), verbose=0))
    got = np.asarray(hepinfer.compile(model, MODEL_LEVEL).predict(x, mode="float"))
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
