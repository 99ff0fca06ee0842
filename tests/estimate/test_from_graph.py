"""IR graph + configuration -> estimate: operator mapping, geometry, knobs, real models."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.compiled import CompiledModel
from hepinfer.estimate import (
    ActivationCost,
    ConvCost,
    DenseCost,
    ElementwiseCost,
    Estimate,
    IOType,
    PoolCost,
    Strategy,
    estimate_layers,
)
from hepinfer.estimate.anchors import load_anchors
from hepinfer.estimate.from_graph import graph_layers
from hepinfer.ir import Graph, Node, Op, TensorType

SIZES = (16, 32, 32, 5)


def mlp(zero_fraction: float = 0.0, seed: int = 0, po2: bool = False) -> Graph:
    """A 16-32-32-5 ReLU/softmax MLP with N(0, 0.3) weights (a share of them zeroed)."""
    rng = np.random.default_rng(seed)
    nodes = [Node("x", Op.INPUT, (), TensorType((SIZES[0],)), {"shape": (SIZES[0],)})]
    prev = "x"
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES)):
        kernel = rng.normal(0.0, 0.3, (n_in, n_out))
        if po2:
            kernel = np.sign(kernel) * 2.0 ** np.round(np.log2(np.abs(kernel)))
        kernel[rng.random(kernel.shape) < zero_fraction] = 0.0
        name = f"fc{i}"
        bias = np.zeros(n_out)
        nodes.append(
            Node(
                name, Op.DENSE, (prev,), TensorType((n_out,)), {}, {"kernel": kernel, "bias": bias}
            )
        )
        act = Op.SOFTMAX if i == len(SIZES) - 2 else Op.RELU
        nodes.append(Node(f"{name}_act", act, (name,), TensorType((n_out,))))
        prev = f"{name}_act"
    return Graph("mlp", tuple(nodes), (prev,))


def estimate(graph: Graph, config: Mapping[str, Any] | None = None, **model: Any) -> Estimate:
    cfg: dict[str, Any] = {"Model": {"Precision": "ap_fixed<16,6>", **model}, **(config or {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the generic rules (tests/estimate/test_tools.py checks each tool generation)
        return hepinfer.compile(graph, cfg).estimate(
            part="xcu250", clock_period=5.0, tool="vivado-hls-2018"
        )


def dense_dsp(est: Estimate) -> int:
    return sum(lay.resources.dsp for lay in est.layers if lay.op == "dense")


def products_and_zeros(graph: Graph) -> list[tuple[int, int]]:
    out = []
    for node in graph.nodes:
        if node.op is Op.DENSE:
            k = node.weights["kernel"]
            out.append((k.size, int(np.sum(k == 0))))
    return out


# -- what the cost hooks read from the graph -------------------------------------------


def test_layers_carry_the_graph_weights_types_and_knobs() -> None:
    config = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
        "LayerName": {
            "fc1": {"Precision": {"weight": "ap_fixed<8,2>", "accum": "ap_fixed<24,10>"}},
            "fc2": {"ReuseFactor": 4, "Strategy": "Resource"},
            "fc0_act": {"Precision": {"result": "ap_ufixed<10,4>"}},
            "fc2_act": {"TableSize": 512, "Precision": {"table": "ap_fixed<14,6>"}},
        },
    }
    model = hepinfer.compile(mlp(), config)
    layers = {lay.name: lay for lay in graph_layers(model.graph, model.config)}
    assert set(layers) == {n.name for n in model.graph.nodes if n.op is not Op.INPUT}
    fc1, fc2, softmax = layers["fc1"], layers["fc2"], layers["fc2_act"]
    assert isinstance(fc1, DenseCost)
    assert isinstance(fc2, DenseCost)
    assert isinstance(softmax, ActivationCost)
    assert fc1.weights is model.graph.node("fc1").weights["kernel"]
    assert (fc1.n_in, fc1.n_out) == (32, 32)
    # the input of fc1 is the configured result type of the ReLU before it
    assert (fc1.input.width, fc1.input.integer, fc1.input.signed) == (10, 4, False)  # type: ignore[union-attr]
    assert (fc1.weight.width, fc1.weight.integer) == (8, 2)  # type: ignore[union-attr]
    assert fc1.accum.width == 24  # type: ignore[union-attr]
    assert (fc1.reuse_factor, fc1.strategy) == (1, Strategy.LATENCY)
    assert (fc2.reuse_factor, fc2.strategy) == (4, Strategy.RESOURCE)
    assert (softmax.kind, softmax.table_size, softmax.table_bits) == ("softmax", 512, 14)


def test_estimate_defaults_to_the_configured_part_and_clock(tmp_path: Path) -> None:
    model = hepinfer.compile(mlp(), {"Part": "xcvu9p-flga2104-2L-e", "ClockPeriod": 4.0})
    est = model.estimate()
    assert est.part.name.startswith("xcvu9p")
    assert est.clock_period == 4.0
    assert model.estimate(part="xcku115", clock_period=3.0).part.name.startswith("xcku115")
    # a saved and reloaded model estimates the same
    again = hepinfer.load(model.save(tmp_path / "m")).estimate()
    assert again.to_dict() == est.to_dict()


# -- geometry of convolutions, pooling, merges and the rest -------------------------------


def node(name: str, op: Op, inputs: tuple[str, ...], shape: tuple[int, ...], **kw: Any) -> Node:
    return Node(name, op, inputs, TensorType(shape), kw.get("attrs", {}), kw.get("weights", {}))


def compiled(nodes: list[Node], outputs: tuple[str, ...], **config: Any) -> CompiledModel:
    return hepinfer.compile(Graph("g", tuple(nodes), outputs), config or None)


def test_conv2d_same_and_explicit_padding_and_depthwise() -> None:
    rng = np.random.default_rng(1)
    k = rng.normal(0, 0.3, (3, 3, 2, 4))
    dk = rng.normal(0, 0.3, (3, 3, 4, 1))
    nodes = [
        node("x", Op.INPUT, (), (8, 8, 2), attrs={"shape": (8, 8, 2)}),
        node(
            "same",
            Op.CONV2D,
            ("x",),
            (4, 4, 4),
            attrs={"strides": (2, 2), "pads": (0, 0, 1, 1)},
            weights={"kernel": k, "bias": np.zeros(4)},
        ),
        node(
            "padded",
            Op.DEPTHWISE_CONV2D,
            ("same",),
            (6, 6, 4),
            attrs={"pads": (2, 2, 2, 2)},
            weights={"kernel": dk, "bias": np.zeros(4)},
        ),
        node("pool", Op.MAXPOOL, ("padded",), (3, 3, 4), attrs={"pool": (2, 2), "strides": (2, 2)}),
        node("gap", Op.GLOBAL_AVGPOOL, ("pool",), (4,)),
    ]
    model = compiled(nodes, ("gap",))
    layers = {lay.name: lay for lay in graph_layers(model.graph, model.config)}
    same, padded, pool, gap = (layers[n] for n in ("same", "padded", "pool", "gap"))
    assert isinstance(same, ConvCost)
    assert same.padding == "same"
    assert (same.in_height, same.in_width, same.out_height, same.out_width) == (8, 8, 4, 4)
    assert (same.kernel_size, same.n_chan, same.n_filt) == (9, 2, 4)
    # depthwise: one input channel per filter, the padded input, the IR's output size
    assert isinstance(padded, ConvCost)
    assert padded.padding == "valid"
    assert (padded.n_chan, padded.n_filt, padded.in_width) == (1, 4, 8)
    assert (padded.out_height, padded.out_width) == (6, 6)
    assert isinstance(pool, PoolCost)
    assert (pool.out_height, pool.out_width) == (3, 3)
    assert isinstance(gap, PoolCost)
    assert gap.op == "average"
    assert (gap.pool_height, gap.pool_width, gap.out_width, gap.n_chan) == (3, 3, 1, 4)
    assert model.estimate().total.dsp > 0


def test_dense_per_time_step_merges_and_free_operators() -> None:
    rng = np.random.default_rng(2)
    kernel = rng.normal(0, 0.3, (3, 6))
    nodes = [
        node("x", Op.INPUT, (), (10, 3), attrs={"shape": (10, 3)}),
        node("td", Op.DENSE, ("x",), (10, 6), weights={"kernel": kernel, "bias": np.zeros(6)}),
        node("t", Op.TRANSPOSE, ("td",), (6, 10), attrs={"perm": (1, 0)}),
        node("r", Op.RESHAPE, ("t",), (60,), attrs={"shape": (60,)}),
        node("y", Op.INPUT, (), (60,), attrs={"shape": (60,)}),
        node("sum", Op.ADD, ("r", "y"), (60,)),
        node("cat", Op.CONCAT, ("sum", "y"), (120,)),
        node("f", Op.FLATTEN, ("cat",), (120,)),
        node(
            "q",
            Op.QUANT,
            ("f",),
            (120,),
            attrs={
                "scale": 0.25,
                "zeropt": 0.0,
                "bitwidth": 6,
                "signed": True,
                "narrow": False,
                "rounding_mode": "ROUND",
            },
        ),
    ]
    model = compiled(nodes, ("q",))
    layers = graph_layers(model.graph, model.config)
    assert [lay.name for lay in layers] == ["td", "sum", "cat", "q"]  # wiring left out
    td, add, cat, quant = layers
    assert isinstance(td, ConvCost)
    assert (td.in_width, td.n_chan, td.n_filt, td.filt_width) == (
        10,
        3,
        6,
        1,
    )
    assert isinstance(add, ElementwiseCost)
    assert (add.op, add.n) == ("add", 60)
    assert isinstance(cat, ElementwiseCost)
    assert (cat.op, cat.n) == ("concatenate", 120)
    assert isinstance(quant, ActivationCost)
    assert quant.kind == "linear"
    assert (quant.output.width, quant.output.integer) == (6, 4)  # type: ignore[union-attr]
    est = model.estimate()
    assert est.layers[0].details["products"] == 3 * 6  # per time step
    assert est.layers[0].ii == 10  # one time step after the other (parallelization 1)


def test_argmax_softmax_is_a_comparator_tree_and_tables_follow_the_config() -> None:
    graph = mlp()
    argmax = estimate(graph, {"LayerName": {"fc2_act": {"Implementation": "argmax"}}})
    stable = estimate(graph)
    small = estimate(graph, {"LayerName": {"fc2_act": {"TableSize": 128}}})
    by_name = {lay.name: lay for lay in argmax.layers}
    assert by_name["fc2_act"].op == "max_pool"
    assert by_name["fc2_act"].resources.dsp == 0
    soft = {lay.name: lay for lay in stable.layers}["fc2_act"]
    assert soft.resources.dsp == 5
    assert soft.resources.bram18k > 0
    # 128 x 18-bit tables (2,304 bits) fit LUT ROM: no block RAM
    assert {lay.name: lay for lay in small.layers}["fc2_act"].resources.bram18k == 0


# -- knobs through the compile API --------------------------------------------------------


def test_reuse_factor_divides_the_multipliers() -> None:
    graph = mlp(zero_fraction=0.3)
    pz = products_and_zeros(graph)
    previous = estimate(graph, ReuseFactor=1)
    assert previous.ii == 1
    for rf in (2, 4, 8):
        est = estimate(graph, ReuseFactor=rf)
        # hls4ml's multiplier_limit: ceil(P/R) - floor(zeros/R), one DSP48 each at 16 bits
        assert dense_dsp(est) == sum(math.ceil(p / rf) - z // rf for p, z in pz)
        assert est.ii == rf
        assert dense_dsp(est) < dense_dsp(previous)
        assert est.latency_cycles > previous.latency_cycles
        previous = est


def test_resource_strategy_stores_weights_and_keeps_zeros() -> None:
    graph = mlp(zero_fraction=0.3)
    pz = products_and_zeros(graph)
    lat = estimate(graph, ReuseFactor=4, Strategy="Latency")
    res = estimate(graph, ReuseFactor=4, Strategy="Resource")
    assert dense_dsp(res) == sum(math.ceil(p / 4) for p, _ in pz) > dense_dsp(lat)
    # hepinfer's Resource kernel binds its weight ROM by depth (hepinfer.ops.reuse): 4 words
    # to LUTRAM (in the LUT count), more than 64 to block RAM
    dense = [lay for lay in res.layers if lay.op == "dense"]
    assert {lay.details["weight_rom"] for lay in dense} == {"lutram"}
    assert sum(lay.resources.bram18k for lay in dense) == 0
    deep = estimate(graph, ReuseFactor=128, Strategy="Resource")
    for lay in (lay for lay in deep.layers if lay.op == "dense"):
        assert lay.details["weight_rom"] == "bram"
        assert lay.resources.bram18k > 0
        assert lay.ii == lay.details["iterations"] > 64
    assert sum(lay.resources.bram18k for lay in lat.layers if lay.op == "dense") == 0
    # Resource reads its weights from LUTRAM (1 cycle) but sums only its share of the
    # products per iteration (a shallower adder tree): 0-1 more cycles per dense layer
    lat_by, res_by = ({x.name: x for x in e.layers} for e in (lat, res))
    for name in ("fc0", "fc1", "fc2"):
        assert 0 <= res_by[name].latency_cycles - lat_by[name].latency_cycles <= 1
        assert res_by[name].ii == lat_by[name].ii == 4


def test_precision_moves_products_between_luts_and_dsps() -> None:
    graph = mlp()
    narrow = estimate(graph, Precision="ap_fixed<8,3>")
    base = estimate(graph, Precision="ap_fixed<16,6>")
    wide = estimate(graph, Precision="ap_fixed<32,12>", ReuseFactor=2, Strategy="Resource")
    wide16 = estimate(graph, Precision="ap_fixed<16,6>", ReuseFactor=2, Strategy="Resource")
    assert dense_dsp(narrow) == 0 < dense_dsp(base)  # 8 x 8 products are LUT multipliers
    assert narrow.total.lut < base.total.lut
    # shared 32 x 32 multipliers take 2 x 2 DSP48E2 (27 x 18) tiles each
    assert dense_dsp(wide) == 4 * dense_dsp(wide16)
    # one layer's type changes only that layer
    one = estimate(graph, {"LayerName": {"fc1": {"Precision": {"weight": "ap_fixed<4,2>"}}}})
    per_layer = {lay.name: lay.resources.dsp for lay in one.layers}
    per_base = {lay.name: lay.resources.dsp for lay in base.layers}
    assert per_layer["fc1"] == 0 < per_base["fc1"]
    assert per_layer["fc0"] == per_base["fc0"]
    assert per_layer["fc2"] == per_base["fc2"]


def test_io_stream_makes_a_dataflow_of_fifos() -> None:
    graph = mlp()
    par = estimate(graph)
    stream = estimate(graph, {"IOType": "io_stream"})
    assert {lay.io_type for lay in stream.layers} == {IOType.STREAM}
    assert {lay.io_type for lay in par.layers} == {IOType.PARALLEL}
    assert dense_dsp(stream) == dense_dsp(par)  # same products
    assert stream.total.lut > par.total.lut
    assert stream.total.ff > par.total.ff
    assert stream.latency_cycles >= par.latency_cycles
    # a convolution streams its input pixels: II = input pixels x R, FIFOs between layers
    kernel = np.random.default_rng(3).normal(0, 0.3, (3, 3, 4))
    nodes = [
        node("x", Op.INPUT, (), (10, 3), attrs={"shape": (10, 3)}),
        node("conv", Op.CONV1D, ("x",), (8, 4), weights={"kernel": kernel, "bias": np.zeros(4)}),
        node("relu", Op.RELU, ("conv",), (8, 4)),
    ]
    conv_par = compiled(nodes, ("relu",)).estimate(tool="vivado-hls-2018")
    conv_stream = compiled(nodes, ("relu",), IOType="io_stream", Model={"ReuseFactor": 2})
    est = conv_stream.estimate(tool="vivado-hls-2018")  # a pipelined dataflow
    assert conv_par.layers[0].ii == 8  # io_parallel: one output pixel after the other
    assert est.layers[0].ii == 10 * 2
    assert est.ii == 20
    assert est.layers[1].details["pixels"] == 8


def test_pruning_removes_multipliers_at_reuse_factor_one() -> None:
    dense = estimate(mlp(zero_fraction=0.0))
    pruned = estimate(mlp(zero_fraction=0.7))
    ratio = dense_dsp(pruned) / dense_dsp(dense)
    assert 0.2 < ratio < 0.4  # about 70 % of the products are gone
    # the Resource strategy stores the zeros: pruning does not change its DSPs
    assert dense_dsp(estimate(mlp(0.0), ReuseFactor=4, Strategy="Resource")) == dense_dsp(
        estimate(mlp(0.7), ReuseFactor=4, Strategy="Resource")
    )


def test_power_of_two_weights_need_no_dsp() -> None:
    est = estimate(mlp(po2=True))
    assert dense_dsp(est) == 0
    assert dense_dsp(estimate(mlp())) > 0


# -- the real models ------------------------------------------------------------------------


def test_pruned_jet_tagger_through_the_full_pipeline(shared_data: Path) -> None:
    """Keras frontend -> configuration -> estimate gives the published 22 cycles (anchor
    `jet_tagger_pruned70_rf1`: ap_fixed<16,6>, RF 1, 70 % pruned, xcku115 at 5 ns).
    """
    folder = shared_data / "hls4ml-example-models" / "keras"
    weights = folder / "KERAS_3layer_70pruned_retrained_weights.h5"
    anchor = next(a for a in load_anchors() if a.id == "jet_tagger_pruned70_rf1")
    config = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
        "IOType": "io_parallel",
        "Part": anchor.part,
        "ClockPeriod": anchor.clock_period,
    }
    model = hepinfer.compile((folder / "KERAS_3layer.json", weights), config)
    est = model.estimate(tool=anchor.tool)
    assert est.part.name.startswith("xcku115")
    assert est.latency_cycles == anchor.published["latency_cycles"] == 22
    # the zeros of the real pruned kernels are seen: ~70 % of the products vanish
    zeros = sum(lay.details["zero_weights"] for lay in est.layers if lay.op == "dense")
    products = sum(lay.details["products"] for lay in est.layers if lay.op == "dense")
    assert 0.65 < zeros / products < 0.75
    # the adapter gives what the hand-written layer list gives
    kernels = [n.weights["kernel"] for n in model.graph.nodes if n.op is Op.DENSE]
    by_hand: list[DenseCost | ActivationCost] = []
    for i, w in enumerate(kernels):
        by_hand.append(DenseCost(name=f"fc{i}", n_in=w.shape[0], n_out=w.shape[1], weights=w))
        kind = "softmax" if i == 3 else "relu"
        by_hand.append(ActivationCost(name=f"a{i}", kind=kind, n=w.shape[1]))
    ref = estimate_layers(by_hand, part="xcku115", clock_period=5.0, tool=anchor.tool)
    assert (est.total, est.latency_cycles, est.ii) == (ref.total, ref.latency_cycles, ref.ii)


SHARED_MODELS = [
    "hls4ml-example-models/keras/KERAS_1layer.json",
    "hls4ml-example-models/keras/KERAS_3layer.json",
    "hls4ml-example-models/keras/KERAS_3layer_batch_norm.json",
    "hls4ml-example-models/keras/KERAS_conv1d_small.json",
    "hls4ml-example-models/keras/KERAS_dense_16x100x100x100x100x100x5.json",
    "hls4ml-example-models/keras/qkeras_3layer.json",
    "hls4ml-example-models/onnx/conv1d_small_keras.onnx",
    "hls4ml-example-models/onnx/conv2d_small_keras.onnx",
    "hls4ml-example-models/onnx/three_layer_bn_pytorch.onnx",
    "hls4ml-example-models/onnx/three_layer_keras.onnx",
    "hls4ml-example-models/onnx/three_layer_pytorch.onnx",
    "hls4ml-example-models/onnx/two_layer_keras.onnx",
    "hls4ml-example-models/pytorch/three_layer_model.pt",
    "hls4ml-example-models/pytorch/two_layer_model.pt",
    "qonnx/qkeras_jettagging.onnx",
]


@pytest.mark.parametrize("relative", SHARED_MODELS)
def test_every_shared_model_estimates(shared_data: Path, relative: str) -> None:
    path = shared_data / relative
    if not path.exists():
        pytest.skip(f"{path} is absent")
    if path.suffix == ".pt":
        pytest.importorskip("torch")
    model = hepinfer.compile(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = model.estimate(part="xcu250", clock_period=5.0)
    weighted = [n for n in model.graph.nodes if "kernel" in n.weights]
    costed = {lay.name: lay for lay in est.layers}
    assert {n.name for n in weighted} <= set(costed)
    for n in weighted:  # every product of every kernel is costed
        lay = costed[n.name]
        pixels = int(np.prod(n.out.shape[:-1], dtype=np.int64))
        per_pixel = n.weights["kernel"].size
        assert lay.details["products"] in (per_pixel, per_pixel * pixels), n.name
    assert est.total.dsp > 0
    assert est.latency_cycles > 0
    assert est.ii >= 1
    assert Estimate.from_json(est.to_json()) == est
    # per-layer 'auto' types (hls4ml's granularity='name') estimate too
    auto = hepinfer.compile(path, hepinfer.config_from_model(path, granularity="name"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert auto.estimate().total.dsp > 0


def test_weight_constants_are_counted_as_the_firmware_stores_them() -> None:
    """Zero weights are counted after the weight type's own cast (FixedType.to_mantissa, as
    the HLS writer stores them): a rounding type keeps 0.2 (-> 0.25), truncation drops it.
    """
    kernel = np.full((8, 4), 0.2)
    kernel[:, 0] = 1.0
    nodes = [
        node("x", Op.INPUT, (), (8,), attrs={"shape": (8,)}),
        node("fc", Op.DENSE, ("x",), (4,), weights={"kernel": kernel, "bias": np.zeros(4)}),
    ]
    zeros = {}
    for quant in ("AP_TRN", "AP_RND"):
        tw = f"ap_fixed<4,2,{quant}>"  # 2 fractional bits: 0.2 -> 0 (TRN) or 0.25 (RND)
        model = compiled(nodes, ("fc",), LayerName={"fc": {"Precision": {"weight": tw}}})
        stored = model.graph.node("fc").precision.weight.to_mantissa(kernel)  # type: ignore[union-attr]
        est = model.estimate()
        zeros[quant] = est.layers[0].details["zero_weights"]
        assert zeros[quant] == int(np.sum(stored == 0))
    assert zeros == {"AP_TRN": 24, "AP_RND": 0}


def test_leaky_relu_is_costed_from_its_slope_as_the_firmware_holds_it() -> None:
    def leaky(alpha: float) -> ActivationCost:
        nodes = (
            Node("x", Op.INPUT, (), TensorType((8,)), {"shape": (8,)}),
            Node("a", Op.LEAKY_RELU, ("x",), TensorType((8,)), {"alpha": alpha}),
        )
        graph = Graph("leaky", nodes, ("a",))
        cfg = {"Model": {"Precision": "ap_fixed<16,6>"}}
        costs = graph_layers(hepinfer.compile(graph, cfg).graph)
        (act,) = (c for c in costs if isinstance(c, ActivationCost))
        return act

    assert leaky(1.0).slope == 1.0
    assert leaky(0.5).slope == 0.5
    assert leaky(0.3).slope == pytest.approx(0.3, abs=2**-10)  # as ap_fixed<16,6> holds it
    lut = [estimate_layers([leaky(a)], tool="vivado-hls-2018").total.lut for a in (1.0, 0.5, 0.3)]
    assert lut[0] == 0 < lut[1] < lut[2]


def test_prelu_with_one_shared_alpha_has_that_slope() -> None:
    def prelu(alpha: np.ndarray) -> ActivationCost:
        nodes = (
            Node("x", Op.INPUT, (), TensorType((8,)), {"shape": (8,)}),
            Node("p", Op.PRELU, ("x",), TensorType((8,)), {}, {"alpha": alpha}),
        )
        cfg = {"Model": {"Precision": "ap_fixed<16,6>"}}
        costs = graph_layers(hepinfer.compile(Graph("prelu", nodes, ("p",)), cfg).graph)
        (act,) = (c for c in costs if isinstance(c, ActivationCost))
        return act

    assert prelu(np.zeros(8)).slope == 0.0  # Keras's default alpha_initializer: a ReLU
    assert prelu(np.linspace(0.1, 0.8, 8)).slope is None  # one alpha per element
