"""Recurrent layers (LSTM, GRU, SimpleRNN): float semantics against Keras, the Keras frontend, HLS C
simulation against the emulator, the estimate, and bit-exactness with hls4ml's C simulation.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError, GraphError
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.op import Op
from tests.conftest import peers_dir
from tests.emulate.test_hls4ml_oracle import run_script

RUNNER = Path(__file__).parents[1] / "emulate" / "hls4ml_layer_runner.py"
MODEL_LEVEL = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
STEPS, FEATURES = 6, 3


def _weights(kind: str, units: int, n_in: int, seed: int, reset_after: bool = True) -> list:
    """Keras' weight list of a `kind` layer: kernel, recurrent kernel, bias(es)."""
    rng = np.random.default_rng(seed)
    g = GATES[kind] * units
    bias_shape = (2, g) if kind == "GRU" and reset_after else (g,)
    return [
        rng.normal(0, 0.6, (n_in, g)).astype(np.float32),
        rng.normal(0, 0.6, (units, g)).astype(np.float32),
        rng.normal(0, 0.3, bias_shape).astype(np.float32),
    ]


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _model(layers: list[tuple[str, dict, list]]) -> Any:
    """A Keras 3 model: a (STEPS, FEATURES) input through `layers` (class, config, weights;
    a Bidirectional wraps the layer its config names under "layer": (class, config)).
    """
    keras = _keras()
    inputs = keras.Input((STEPS, FEATURES), name="x_in")
    h = inputs
    built = []
    for cls, config, weights in layers:
        if cls == "Bidirectional":
            (inner, inner_config), rest = config["layer"], config.copy()
            del rest["layer"]
            layer = keras.layers.Bidirectional(getattr(keras.layers, inner)(**inner_config), **rest)
        else:
            layer = getattr(keras.layers, cls)(**config)
        h = layer(h)
        built.append((layer, weights))
    for layer, weights in built:
        layer.set_weights(weights)
    return keras.Model(inputs, h)


def _stack(first: str, second: str, seed: int) -> list[tuple[str, dict, list]]:
    """`first` returning sequences, then `second` returning its last state."""
    return [
        (
            first,
            {"units": 4, "return_sequences": True, "name": "rnn1"},
            _weights(first, 4, 3, seed),
        ),
        (second, {"units": 3, "name": "rnn2"}, _weights(second, 3, 4, seed + 1)),
    ]


def _inputs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1.5, size=(n, STEPS, FEATURES))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("LSTM", {}),
        ("LSTM", {"return_sequences": True, "activation": "relu"}),
        ("LSTM", {"recurrent_activation": "tanh"}),
        ("GRU", {}),
        ("GRU", {"return_sequences": True}),
        ("GRU", {"reset_after": False}),
        ("GRU", {"reset_after": False, "return_sequences": True, "activation": "relu"}),
        ("SimpleRNN", {}),
        ("SimpleRNN", {"return_sequences": True, "activation": "relu"}),
        ("SimpleRNN", {"activation": "sigmoid", "use_bias": False}),
    ],
)
def test_float_mode_equals_keras(kind: str, extra: dict) -> None:
    weights = _weights(kind, 5, FEATURES, 11, extra.get("reset_after", True))
    weights = weights if extra.get("use_bias", True) else weights[:2]
    model = _model([(kind, {"units": 5, "name": "rnn", **extra}, weights)])
    x = _inputs(300, 12)
    ref = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    compiled = hepinfer.compile(model, MODEL_LEVEL)
    assert [n.op.value for n in compiled.graph.nodes] == ["Input", kind]  # activation kept inside
    ours = np.asarray(compiled.predict(x, mode="float")).reshape(ref.shape)
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    wide = hepinfer.compile(model, {"Model": {"Precision": "ap_fixed<24,10>"}})
    fixed = np.asarray(wide.predict(x)).reshape(ref.shape)
    # the fixed datapath tracks the float one (table steps, relative to the values' size)
    assert np.abs(fixed - ref).max() < 0.06 * max(1.0, float(np.abs(ref).max()))


def _csim_types(weight: str, recurrent_weight: str, bias: str, recurrent_bias: str) -> dict:
    return {
        "Precision": {
            "weight": weight,
            "recurrent_weight": recurrent_weight,
            "bias": bias,
            "recurrent_bias": recurrent_bias,
        }
    }


#: every recurrent layer with its recurrent kernel and bias in types of their own
CSIM_MIXED = {
    **MODEL_LEVEL,
    "LayerName": {
        "rnn1": _csim_types("ap_fixed<10,2>", "ap_fixed<7,2>", "ap_fixed<8,3>", "ap_fixed<6,2>"),
        "rnn2": _csim_types(
            "ap_fixed<9,2>", "ap_fixed<8,2,AP_RND>", "ap_fixed<8,3>", "ap_fixed<5,2>"
        ),
        "rnn3": _csim_types("ap_fixed<11,3>", "ap_fixed<7,2>", "ap_fixed<9,3>", "ap_fixed<6,2>"),
        "rnn4": _csim_types("ap_fixed<10,2>", "ap_fixed<6,2>", "ap_fixed<8,3>", "ap_fixed<7,2>"),
    },
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_csim_equals_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    layers = _stack("LSTM", "GRU", 3)
    weights = _weights("GRU", 2, 3, 5, reset_after=False)
    layers[1] = ("GRU", {"units": 3, "name": "rnn2", "return_sequences": True}, layers[1][2])
    layers.append(("GRU", {"units": 2, "name": "rnn3", "reset_after": False}, weights))
    simple = _weights("SimpleRNN", 3, 3, 6)
    layers.insert(2, ("SimpleRNN", {"units": 3, "name": "rnn4", "return_sequences": True}, simple))
    keras_model = _model(layers)
    model = hepinfer.compile(keras_model, CSIM_MIXED)
    x = _inputs(400, 4)
    want = np.asarray(model.predict(x)).reshape(len(x), -1)
    # control: the recurrent types change the outputs (so the C simulation checks them);
    # SimpleRNN (no hls4ml kernel) has its own
    for name in ("rnn1", "rnn2", "rnn3", "rnn4"):
        same = copy.deepcopy(CSIM_MIXED)
        p = same["LayerName"][name]["Precision"]
        p["recurrent_weight"], p["recurrent_bias"] = p["weight"], p["bias"]
        y = np.asarray(hepinfer.compile(keras_model, same).predict(x)).reshape(want.shape)
        assert int(np.count_nonzero(y != want)) > 0, name
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):
            got = np.asarray(model.csim(x, io_type=io_type, headers=headers)).reshape(len(x), -1)
            np.testing.assert_array_equal(got, want, err_msg=f"{io_type} {headers}")


def _single(kind: str, steps: int) -> hepinfer.CompiledModel:
    b = GraphBuilder("one")
    x = b.input("x", (steps, FEATURES))
    w = dict(zip(("kernel", "recurrent_kernel"), _weights(kind, 4, FEATURES, 1)[:2], strict=True))
    w |= {"bias": np.zeros(4 * GATES[kind]), "recurrent_bias": np.zeros(4 * GATES[kind])}
    y = b.add("rnn", Op(kind), [x], {"units": 4}, w)
    return hepinfer.compile(b.build([y]), MODEL_LEVEL)


def test_hls4ml_vitis_has_no_simple_rnn_kernel() -> None:
    """Why SimpleRNN has no hls4ml oracle: its Vivado/Vitis templates cover LSTM and GRU only
    (the writer emits no call for a SimpleRNN, the output stays unwritten); hepinfer's
    SimpleRNN is checked against Keras (float), its C simulation and its datapath's rules.
    """
    found = sorted((peers_dir() / "hls4ml" / "lib").glob("python3*/site-packages/hls4ml"))
    if not found:
        pytest.skip(f"hls4ml peer not installed under {peers_dir()} (set HEPINFER_PEERS)")
    source = (found[0] / "backends" / "vivado" / "passes" / "recurrent_templates.py").read_text()
    assert "super().__init__((LSTM, GRU)" in source
    assert "SimpleRNN" not in source


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_estimate_latency_and_ii_grow_with_the_time_steps(kind: str) -> None:
    short, long = (_single(kind, n).estimate() for n in (4, 8))
    (a,), (b,) = ([lay for lay in e.layers if lay.name == "rnn"] for e in (short, long))
    assert b.latency_cycles == 2 * a.latency_cycles > 0
    assert a.ii == a.latency_cycles  # the next sequence waits for the last step
    assert a.resources == b.resources  # one step's hardware, reused
    assert a.resources.dsp + a.resources.lut > 0


def test_refusals_name_the_layer_and_what_is_supported() -> None:
    b = GraphBuilder("bad")
    x = b.input("x", (STEPS, FEATURES))
    w = dict(zip(("kernel", "recurrent_kernel"), _weights("LSTM", 2, FEATURES, 1)[:2], strict=True))
    w |= {"bias": np.zeros(8), "recurrent_bias": np.zeros(8)}
    with pytest.raises(GraphError, match=r"LSTM 'cell'.*'softsign'.*relu, sigmoid, tanh"):
        b.add("cell", Op.LSTM, [x], {"units": 2, "activation": "softsign"}, w)
    flat = b.input("flat", (5,))
    with pytest.raises(GraphError, match=r"GRU 'g'.*sequence"):
        b.add("g", Op.GRU, [flat], {"units": 2}, w)


def _oracle(layers: list[tuple[str, dict, list]], config: dict, x: np.ndarray, tmp: Path) -> Any:
    python = peers_dir() / "hls4ml" / "bin" / "python"
    if not (peers_dir() / "READY-hls4ml").exists() or not python.exists():
        pytest.skip(f"hls4ml peer not installed under {peers_dir()} (set HEPINFER_PEERS)")
    entries = []
    for i, (cls, cfg, weights) in enumerate(layers):
        files = []
        for j, w in enumerate(weights):
            np.save(tmp / f"w{i}_{j}.npy", w)
            files.append(str(tmp / f"w{i}_{j}.npy"))
        entry: dict[str, Any] = {"class": cls, "config": cfg, "weights": files}
        if cls == "Bidirectional":
            inner, inner_config = cfg["layer"]
            entry["config"] = {k: v for k, v in cfg.items() if k != "layer"}
            entry["inner"] = {"class": inner, "config": inner_config}
        entries.append(entry)
    np.save(tmp / "x.npy", x)
    spec = {
        "input_shape": [STEPS, FEATURES],
        "layers": entries,
        "hls_config": config,
        "x": str(tmp / "x.npy"),
        "y": str(tmp / "y.npy"),
        "out_dir": str(tmp / "prj"),
    }
    run_script(python, RUNNER, spec, tmp)
    return np.load(tmp / "y.npy")


MIXED = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        # the recurrent kernel and bias in their own types (hls4ml's recurrent_weight_t and
        # recurrent_bias_t), other than the kernel's and the bias'
        "rnn1": {
            "Precision": {
                "weight": "ap_fixed<10,2>",
                "recurrent_weight": "ap_fixed<8,2>",
                "bias": "ap_fixed<8,3>",
                "recurrent_bias": "ap_fixed<6,2,AP_RND>",
                "accum": "ap_fixed<20,7>",
                "result": "ap_fixed<13,4,AP_RND,AP_SAT>",
                # (hls4ml 1.3 ignores a `table` precision of recurrent layers: ap_fixed<18,8>)
            },
            "table_size": 512,
        },
        # a Bidirectional(LSTM) between rnn1 and rnn2 (this configuration's model): one layer
        # in hls4ml, its halves' weights typed by `forward_weight`, `backward_bias`,
        # `forward_recurrent_weight`, ... (a Keras LSTM's recurrent bias is zero: its type
        # changes nothing)
        "bi": {
            "Precision": {
                "accum": "ap_fixed<13,4,AP_RND,AP_SAT>",
                "result": "ap_fixed<13,4,AP_RND,AP_SAT>",
                "forward_weight": "ap_fixed<10,2>",
                "forward_recurrent_weight": "ap_fixed<7,2>",
                "backward_weight": "ap_fixed<9,2,AP_RND>",
                "backward_recurrent_weight": "ap_fixed<8,2,AP_RND>",
                "backward_bias": "ap_fixed<8,3>",
                "backward_recurrent_bias": "ap_fixed<6,3>",
            }
        },
        # hls4ml 1.3's LSTM compiles only when its input, result and accum types are equal
        # (`nnet::lstm` passes the state and the Dense outputs as one another's types)
        "rnn2": {
            "Precision": {
                "weight": "ap_fixed<12,3>",
                "recurrent_weight": "ap_fixed<9,2>",
                "result": "ap_fixed<13,4,AP_RND,AP_SAT>",
                "accum": "ap_fixed<13,4,AP_RND,AP_SAT>",
            }
        },
    },
}
#: (layer, recurrent type, the type it replaces in the control): with the kernel's (bias')
#: type instead, the outputs differ (a Keras LSTM's recurrent bias is zero: not listed)
RECURRENT_TYPES = [
    ("rnn1", "recurrent_weight", "weight"),
    ("rnn1", "recurrent_bias", "bias"),
    ("bi", "forward_recurrent_weight", "forward_weight"),
    ("bi", "backward_recurrent_weight", "backward_weight"),
    ("rnn2", "recurrent_weight", "weight"),
]


def _recurrent_types_matter(keras_model: Any, x: np.ndarray, theirs: np.ndarray) -> None:
    """Control: each recurrent type of `MIXED` given its kernel's (bias') type instead, as
    hepinfer's single weight type did, changes outputs away from hls4ml's.
    """
    for layer, var, instead in RECURRENT_TYPES:
        config = copy.deepcopy(MIXED)
        precision = config["LayerName"][layer]["Precision"]
        precision[var] = precision[instead]
        y = np.asarray(hepinfer.compile(keras_model, config).predict(x)).reshape(theirs.shape)
        assert int(np.count_nonzero(y != theirs)) > 0, (layer, var)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    ("first", "second", "config"),
    [("LSTM", "GRU", MODEL_LEVEL), ("GRU", "LSTM", MODEL_LEVEL), ("GRU", "LSTM", MIXED)],
    ids=["lstm-gru-model", "gru-lstm-model", "gru-lstm-mixed"],
)
def test_bit_exact_against_hls4ml(first: str, second: str, config: dict, tmp_path: Path) -> None:
    layers = _stack(first, second, 21)
    if config is MIXED:  # and a Bidirectional(LSTM), configured per half (one hls4ml compile)
        layers.insert(1, _bidirectional("LSTM", 2, 4, True, "bi", 23))
    x = _inputs(2500, 22)
    theirs = _oracle(layers, config, x, tmp_path)
    cpp = (tmp_path / "prj" / "firmware" / "oracle.cpp").read_text()
    assert f"{first.lower()}_stack" in cpp
    assert f"{second.lower()}_stack" in cpp
    assert ("bidirectional_stack" in cpp) == (config is MIXED)
    keras_model = _model(layers)
    model = hepinfer.compile(keras_model, config)
    ours = np.asarray(model.predict(x)).reshape(theirs.shape)
    assert int(np.count_nonzero(ours != theirs)) == 0
    # the datapath is really exercised (the mixed result type has 9 fractional bits, and the
    # Bidirectional layer narrows the outputs' range: about 120 distinct values)
    assert np.unique(ours).size > (100 if config is MIXED else 200)
    if config is MIXED:
        _recurrent_types_matter(keras_model, x, theirs)


def test_pytorch_frontend_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.errors import FrontendError
    from hepinfer.frontends.torch import from_torch_module

    torch.manual_seed(0)

    class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 4, batch_first=True)
            self.gru = torch.nn.GRU(4, 5, batch_first=True)
            self.rnn = torch.nn.RNN(5, 3, batch_first=True, nonlinearity="relu")
            self.fc = torch.nn.Linear(3, 2)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            seq, _ = self.gru(out)
            y, hn = self.rnn(seq)
            return self.fc(y[:, -1, :]) + self.fc(hn[-1])

    net = Net().eval()
    graph = from_torch_module(net, (STEPS, FEATURES))
    kinds = [(n.op.value, n.attrs.get("return_sequences")) for n in graph.nodes[1:4]]
    assert kinds == [("LSTM", True), ("GRU", True), ("SimpleRNN", False)]
    x = _inputs(200, 5)
    with torch.no_grad():
        ref = net(torch.tensor(x, dtype=torch.float32)).numpy().astype(np.float64)
    ours = np.asarray(hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float"))
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    with pytest.raises(FrontendError, match="batch_first=True"):
        from_torch_module(torch.nn.Sequential(torch.nn.GRU(3, 2)), (STEPS, FEATURES))


def _bidirectional(kind: str, units: int, n_in: int, seq: bool, name: str, seed: int) -> tuple:
    weights = _weights(kind, units, n_in, seed) + _weights(kind, units, n_in, seed + 1)
    inner = (kind, {"units": units, "return_sequences": seq})
    return ("Bidirectional", {"layer": inner, "name": name}, weights)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_bidirectional_float_and_csim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    layers = [
        _bidirectional("GRU", 3, FEATURES, True, "bi1", 31),
        _bidirectional("SimpleRNN", 2, 6, True, "bi2", 33),
        _bidirectional("LSTM", 2, 4, False, "bi3", 35),
    ]
    keras_model = _model(layers)
    # each half's recurrent kernel and bias in types of their own
    halves = {
        "forward_recurrent_weight": "ap_fixed<8,2>",
        "forward_recurrent_bias": "ap_fixed<7,2>",
        "backward_weight": "ap_fixed<11,3>",
        "backward_recurrent_weight": "ap_fixed<7,2,AP_RND>",
        "backward_recurrent_bias": "ap_fixed<6,2>",
    }
    config = {**MODEL_LEVEL, "LayerName": {f"bi{i}": {"Precision": halves} for i in (1, 2, 3)}}
    model = hepinfer.compile(keras_model, config)
    fwd, bwd = model.graph.node("bi1_forward").precision, model.graph.node("bi1_backward").precision
    assert (str(fwd.recurrent_weight), str(bwd.recurrent_weight)) == (
        "ap_fixed<8,2>",
        "ap_fixed<7,2,AP_RND>",
    )
    ops = [(n.op.value, n.attrs.get("backward", False)) for n in model.graph.nodes[1:4]]
    assert ops == [("GRU", False), ("GRU", True), ("Concatenate", False)]
    x = _inputs(300, 8)
    ref = np.asarray(keras_model.predict(x, verbose=0), dtype=np.float64)
    ours = np.asarray(model.predict(x, mode="float")).reshape(ref.shape)
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    want = np.asarray(model.predict(x)).reshape(len(x), -1)
    # io_parallel (hls4ml 1.3's only Bidirectional kernel) with both header sets; io_stream
    # (hepinfer's own, the two directions as two recurrent nodes) with Xilinx's
    for io_type, headers in (
        ("io_parallel", "hepinfer"),
        ("io_parallel", "xilinx"),
        ("io_stream", "xilinx"),
    ):
        if headers == "xilinx" and find_ap_types_headers() is None:
            continue
        got = np.asarray(model.csim(x, io_type=io_type, headers=headers)).reshape(len(x), -1)
        np.testing.assert_array_equal(got, want, err_msg=f"{io_type} {headers}")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_bidirectional_merge_modes_equal_keras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """merge_mode sum, mul and ave: an Add, Multiply or Average of the two halves. hls4ml 1.3
    has no such kernel (its Vitis backend rewrites them to 'concat', which no longer matches
    the output shape it declared): Keras' float output is the reference, and the fixed-point
    datapath is the tested one (the same recurrent nodes as 'concat', bit-exact with hls4ml,
    then its Add/Multiply/Average merges, bit-exact with hls4ml's); C simulation == emulator.
    """
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    layers = []
    for (kind, units, n_in, seq, seed), mode in zip(
        [("GRU", 3, FEATURES, True, 51), ("SimpleRNN", 3, 3, True, 53), ("LSTM", 2, 3, False, 55)],
        ("sum", "mul", "ave"),
        strict=True,
    ):
        cls, config, weights = _bidirectional(kind, units, n_in, seq, f"bi_{mode}", seed)
        layers.append((cls, {**config, "merge_mode": mode}, weights))
    keras_model = _model(layers)
    model = hepinfer.compile(keras_model, MODEL_LEVEL)
    merges = [n.op for n in model.graph.nodes if n.name.startswith("bi_") and "_" not in n.name[3:]]
    assert merges == [Op.ADD, Op.MULTIPLY, Op.AVERAGE]
    x = _inputs(300, 12)
    ref = np.asarray(keras_model.predict(x, verbose=0), dtype=np.float64)
    ours = np.asarray(model.predict(x, mode="float")).reshape(ref.shape)
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    want = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert np.unique(want).size > 50
    for headers in ("hepinfer", "xilinx"):  # io_parallel, as hls4ml's Bidirectional
        if headers == "xilinx" and find_ap_types_headers() is None:
            continue
        got = np.asarray(model.csim(x, io_type="io_parallel", headers=headers))
        np.testing.assert_array_equal(got.reshape(len(x), -1), want, err_msg=headers)
    cls, config, weights = _bidirectional("GRU", 2, FEATURES, False, "bi", 57)
    with pytest.raises(FrontendError, match=r"'bi' \(Bidirectional\) with merge_mode None"):
        hepinfer.compile(_model([(cls, {**config, "merge_mode": None}, weights)]))


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_bidirectional_bit_exact_against_hls4ml(tmp_path: Path) -> None:
    """Bidirectional(LSTM) both ways of return_sequences (hls4ml 1.3's Keras 3 handler cannot
    convert a Bidirectional GRU: it looks for a GRU bias pair on the cell and finds none); at
    a mixed configuration in `test_bit_exact_against_hls4ml[gru-lstm-mixed]`.
    """
    config = MODEL_LEVEL
    layers = [
        _bidirectional("LSTM", 3, FEATURES, True, "bi1", 41),
        _bidirectional("LSTM", 2, 6, False, "bi2", 43),
    ]
    x = _inputs(2000, 9)
    theirs = _oracle(layers, config, x, tmp_path)
    assert "bidirectional_stack" in (tmp_path / "prj" / "firmware" / "oracle.cpp").read_text()
    ours = np.asarray(hepinfer.compile(_model(layers), config).predict(x))
    ours = ours.reshape(theirs.shape)
    assert int(np.count_nonzero(ours != theirs)) == 0
    assert np.unique(ours).size > 200


def test_recurrent_types_are_the_layers_own() -> None:
    """The recurrent kernel and bias have types of their own everywhere: hepinfer's default
    sizes each `auto` type to its own values, the types table and the HLS layer show them,
    the estimate costs the recurrent product with them; a model saved before they existed
    loads with its weight and bias types in their place.
    """
    from hepinfer.hls.layers import build_model
    from hepinfer.ir.printer import types_table
    from hepinfer.ir.serialize import graph_from_dict, graph_to_dict

    b = GraphBuilder("own")
    x = b.input("x", (STEPS, FEATURES))
    k, r, _ = _weights("LSTM", 4, FEATURES, 1)
    w = {"kernel": k / 8, "recurrent_kernel": r * 4, "bias": np.full(16, 0.2)}
    w["recurrent_bias"] = np.full(16, 3.0)
    y = b.add("rnn", Op.LSTM, [x], {"units": 4}, w)
    model = hepinfer.compile(b.build([y]))  # hepinfer's default: weights sized to their values
    p = model.graph.node("rnn").precision
    assert p.weight is not None
    assert p.recurrent_weight is not None
    assert p.recurrent_weight.integer > p.weight.integer + 1
    assert p.bias is not None
    assert p.recurrent_bias is not None
    assert p.recurrent_bias.integer > p.bias.integer
    assert "recurrent_weight" in types_table(model.graph)
    (layer,) = [lay for lay in build_model(model.graph, "p").layers if lay.name == "rnn"]
    assert layer.types["recurrent_weight_t"] != layer.types["weight_t"]
    order = ("weight", "recurrent_weight", "bias", "recurrent_bias")
    assert [a.ctype for a in layer.arrays][:4] == [f"rnn_{v}_t" for v in order]
    # the estimate: a 16-bit recurrent kernel's products take DSPs, 8-bit ones LUTs
    narrow = hepinfer.compile(b.build([y]), {"Model": {"Precision": "ap_fixed<8,3>"}})
    wide = {
        **MODEL_LEVEL,
        "LayerName": {"rnn": {"Precision": {"recurrent_weight": "ap_fixed<16,6>"}}},
    }
    wide["Model"] = {"Precision": "ap_fixed<8,3>"}
    (a,), (c,) = (
        [lay for lay in m.estimate().layers if lay.name == "rnn"]
        for m in (narrow, hepinfer.compile(b.build([y]), wide))
    )
    assert c.resources.dsp > a.resources.dsp  # 16-bit products go to DSPs
    data, weights = graph_to_dict(narrow.graph)
    for node in data["nodes"]:
        for var in ("recurrent_weight", "recurrent_bias"):
            node["precision"].pop(var, None)
    old = graph_from_dict(data, weights).node("rnn").precision
    assert old.recurrent_weight == old.weight
    assert old.recurrent_bias == old.bias
