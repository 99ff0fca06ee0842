"""The RTL hooks of the merges, average pooling, LeakyReLU, ELU, BatchNormalization and the
table activations equal the emulator bit for bit (one Verilator build for all of them), and
operators without RTL give one clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import RtlError
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from hepinfer.rtl import build
from tests.rtl.conftest import need

#: result types that make the casts after each operator do work: rounding and saturation,
#: and a wrapping one (not monotone: max/min must compare before casting)
NARROW = "ap_fixed<7,2,AP_RND_CONV,AP_SAT>"
WRAP = "ap_fixed<6,2>"


def _graph() -> tuple[Graph, dict[str, Any]]:
    rng = np.random.default_rng(7)
    b = GraphBuilder("ops")
    x = b.input("x", (6, 4))
    y = b.input("y", (6, 4))
    outs, layers = [], {}
    for op, name in [
        (Op.ADD, "add"),
        (Op.SUBTRACT, "sub"),
        (Op.MULTIPLY, "mul"),
        (Op.AVERAGE, "avg"),
        (Op.MAXIMUM, "max"),
        (Op.MINIMUM, "min"),
    ]:
        outs.append(b.add(name, op, [x, y]))
        outs.append(b.add(f"{name}_wrap", op, [x, y]))
        layers[f"{name}_wrap"] = {"Precision": {"result": WRAP}}
        layers[name] = {"Precision": {"result": NARROW}}
    outs.append(b.add("cat", Op.CONCAT, [x, y], {"axis": 0}))
    outs.append(b.add("cat_c", Op.CONCAT, [x, y], {"axis": -1}))
    layers["cat"] = {"Precision": {"result": WRAP}}
    pool = {"pool": (3,), "strides": (2,), "pads": (1, 1)}
    outs.append(b.add("apool", Op.AVGPOOL, [x], pool))  # edge windows count 2, others 3
    outs.append(b.add("apool_pad", Op.AVGPOOL, [x], {**pool, "count_pad": True}))
    outs.append(b.add("gapool", Op.GLOBAL_AVGPOOL, [y]))  # 6 positions: not a power of two
    layers["apool"] = {"Precision": {"accum": "ap_fixed<12,4,AP_RND>", "result": NARROW}}
    layers["gapool"] = {"Precision": {"accum": "ap_fixed<10,3>", "result": WRAP}}
    outs.append(b.add("leaky", Op.LEAKY_RELU, [x], {"alpha": 0.3}))
    layers["leaky"] = {"Precision": {"weight": "ap_fixed<8,1>", "result": NARROW}}
    outs.append(b.add("elu", Op.ELU, [y], {"alpha": 0.7}))
    outs.append(b.add("softplus", Op.SOFTPLUS, [x]))
    outs.append(b.add("softsign", Op.SOFTSIGN, [y]))
    weights = {"scale": rng.normal(size=4), "bias": rng.normal(size=4) * 0.5}
    outs.append(b.add("bn", Op.BATCHNORM, [y], weights=weights))
    layers["bn"] = {"Precision": {"weight": "ap_fixed<10,3>", "bias": "ap_fixed<8,3>"}}
    config = {
        "Model": {"Precision": "ap_fixed<10,3>"},
        "FoldBatchNorm": False,
        "LayerName": layers,
    }
    return b.build(outs), config


def test_ops_equal_the_emulator() -> None:
    need("verilator")
    graph, config = _graph()
    model = hepinfer.compile(graph, config)
    rng = np.random.default_rng(3)
    n = 10_000
    x = {"x": rng.normal(scale=2.5, size=(n, 6, 4)), "y": rng.normal(scale=2.5, size=(n, 6, 4))}
    result = model.rtlsim(x)
    expected = model.predict(x)
    assert isinstance(expected, dict)
    for name, want in expected.items():
        got = result.outputs[name].reshape(want.shape)
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert result.latency == model.rtl_design().latency


def test_unsupported_ops_name_the_layer_and_the_supported_set() -> None:
    b = GraphBuilder("rnn")
    x = b.input("x", (5, 3))
    rng = np.random.default_rng(0)
    weights = {
        "kernel": rng.normal(size=(3, 4)),
        "recurrent_kernel": rng.normal(size=(4, 4)),
        "bias": np.zeros(4),
        "recurrent_bias": np.zeros(4),
    }
    r = b.add("rnn", Op.SIMPLE_RNN, [x], {"units": 4}, weights)
    model = hepinfer.compile(b.build([r]))
    with pytest.raises(RtlError, match=r"'rnn' \(SimpleRNN\).*supports.*Add.*Dense.*write_hls"):
        build(model.graph)


def test_resource_strategy_and_io_stream_are_clear_errors(tmp_path: Path) -> None:
    from tests.hls.onnx_models import mlp

    path = mlp(tmp_path / "m.onnx", (6, 8, 4), ("Relu", ""))
    resource = hepinfer.compile(path, {"Model": {"Strategy": "Resource", "ReuseFactor": 2}})
    with pytest.raises(RtlError, match=r"\(Dense\).*Resource strategy.*Strategy: Latency"):
        resource.rtl_design()
    stream = hepinfer.compile(path, {"IOType": "io_stream"})
    with pytest.raises(RtlError, match=r"IOType io_stream.*io_parallel"):
        stream.write_verilog(tmp_path / "rtl")
