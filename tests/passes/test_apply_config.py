"""Applying a configuration: types on every node, quantiser types, auto rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepinfer.config import Config
from hepinfer.fixed import FixedType, Overflow
from hepinfer.frontends import load_model
from hepinfer.ops import softmax as softmax_ops
from hepinfer.passes.apply_config import apply_config

T = FixedType.parse


def test_every_used_variable_gets_a_type(shared_data: Path) -> None:
    graph = load_model(shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json")
    typed = apply_config(graph, Config.from_dict({"LayerName": {"fc1_relu": {"ReuseFactor": 4}}}))
    fc1 = typed.node("fc1_relu")
    assert fc1.precision.weight == fc1.precision.accum == T("ap_fixed<16,6>")
    assert fc1.attrs["reuse_factor"] == 4
    assert typed.node("fc2_relu").attrs["reuse_factor"] == 1
    softmax = typed.node("output_softmax_softmax")
    # an unset table type is hls4ml's default, written on the graph by type inference
    assert softmax.precision.table == softmax_ops.DEFAULT_TABLE == T("ap_fixed<18,8,RND,SAT>")
    assert softmax.precision.accum == T("ap_fixed<21,11>")  # the table type + ceil(log2 5) bits
    assert softmax.precision.result == T("ap_fixed<16,6>")


def test_quantisers_fix_types_unless_the_layer_overrides(shared_data: Path) -> None:
    graph = load_model(shared_data / "qonnx" / "qkeras_jettagging.onnx")
    typed = apply_config(graph, Config())
    assert typed.node("MatMul_0").precision.weight == T("ap_fixed<6,1,AP_RND_CONV,AP_SAT>")
    override = Config.from_dict(
        {"LayerName": {"MatMul_0": {"Precision": {"weight": "ap_fixed<8,2>"}}}}
    )
    assert apply_config(graph, override).node("MatMul_0").precision.weight == T("ap_fixed<8,2>")


def test_auto_rules(shared_data: Path) -> None:
    graph = load_model(shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json")
    auto = Config.from_dict(
        {
            "Auto": "hepinfer",  # hepinfer's rule (an hls4ml configuration's default is hls4ml's)
            "Model": {
                "Precision": {
                    "default": "ap_fixed<16,6>",
                    "weight": "auto",
                    "accum": "auto",
                    "result": "auto",
                }
            },
        }
    )
    typed = apply_config(graph, auto)
    fc1 = typed.node("fc1_relu")
    kernel = fc1.weights["kernel"]
    assert fc1.precision.weight is not None
    assert fc1.precision.weight.width == 16
    assert np.abs(kernel).max() < fc1.precision.weight.max  # holds the largest weight
    assert np.abs(kernel).max() >= fc1.precision.weight.max / 2  # but no wider than needed
    assert fc1.precision.accum is not None
    assert fc1.precision.accum.frac == 10 + fc1.precision.weight.frac  # exact accumulator
    head = typed.node("output_softmax").precision.result
    assert head is not None
    assert (head.integer, head.overflow) == (5, Overflow.SAT)  # narrowed for the softmax table
    sm = typed.node("output_softmax_softmax").precision.result
    assert sm == FixedType(16, 1, signed=False)


def test_hls4ml_auto_rule(shared_data: Path) -> None:
    """Without `Auto: hepinfer`, an hls4ml configuration's 'auto' is hls4ml 1.3's rule:
    weights the default, a Dense result ``W_x + W_w + ceil(log2 n_in)`` bits plus one for the
    bias (infer_precision.py), activations the default (bit-exactness: tests/emulate).
    """
    graph = load_model(shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json")
    auto = {"default": "ap_fixed<16,6>", "weight": "auto", "accum": "auto", "result": "auto"}
    typed = apply_config(graph, Config.from_dict({"Model": {"Precision": auto}}))
    default = T("ap_fixed<16,6>")
    fc1 = typed.node("fc1_relu")
    assert fc1.precision.weight == fc1.precision.bias == default
    n_in = fc1.weights["kernel"].shape[0]
    grow = int(np.ceil(np.log2(n_in)))
    assert fc1.precision.result == FixedType(16 + 16 + grow + 1, 6 + 6 + grow + 1)
    assert fc1.precision.accum == fc1.precision.result
    assert typed.node("fc1_relu_relu").precision.result == default
    assert typed.node("input_1").precision.result == default


def test_precise_tables_and_softmax_input_follow_a_wide_default(shared_data: Path) -> None:
    graph = load_model(shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json")
    typed = apply_config(graph, Config.default("ap_fixed<32,16>"))
    assert typed.node("fc3_relu").precision.result == T("ap_fixed<32,16,AP_RND,AP_SAT>")
    assert typed.node("output_softmax").precision.result == T("ap_fixed<24,8,AP_RND,AP_SAT>")
    softmax = typed.node("output_softmax_softmax")
    assert softmax.precision.table == T("ap_fixed<22,4,AP_RND,AP_SAT>")
    assert softmax.attrs["table_size"] == 2**17
    # a layer-name result wins over the softmax-input rule; hls4ml's meaning has no such rule
    named = Config.default("ap_fixed<32,16>").replace(
        layer_name={
            "output_softmax": Config.from_dict(
                {"LayerName": {"x": {"Precision": {"result": "ap_fixed<20,6>"}}}}
            ).layer_name["x"]
        }
    )
    assert apply_config(graph, named).node("output_softmax").precision.result == T("ap_fixed<20,6>")
    plain = apply_config(graph, Config.hls4ml("ap_fixed<32,16>"))
    assert plain.node("output_softmax").precision.result == T("ap_fixed<32,16>")
    assert plain.node("output_softmax_softmax").precision.table == softmax_ops.DEFAULT_TABLE
    # 16-bit defaults keep hls4ml's tables
    default = apply_config(graph, Config()).node("output_softmax_softmax")
    assert default.precision.table == softmax_ops.DEFAULT_TABLE
