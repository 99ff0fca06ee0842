"""The HLS model is dispatch over the ops' `hls` hooks: every op renders in both io types."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.config import Config
from hepinfer.errors import HlsError
from hepinfer.hls.layers import build_model
from hepinfer.hls.writer import render
from hepinfer.ir.graph import TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import lut, sigmoid
from hepinfer.passes.apply_config import apply_config
from tests.op_models import OPS, single


@pytest.mark.parametrize("io", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("op", OPS, ids=[op.value for op in OPS])
def test_every_op_renders(op: Op, io: str) -> None:
    graph = apply_config(single(op, np.random.default_rng(5)), Config())
    if io == "io_stream" and op in (Op.GARNET, Op.GARNET_STACK):  # as hls4ml: io_parallel only
        with pytest.raises(HlsError, match=r"has no io_stream kernel: hls4ml 1.3's GarNet"):
            render(graph, io_type=io)
        return
    project = render(graph, io_type=io)
    layer = project.model.layers[-1]
    assert layer.op == op.value
    assert f"struct config{layer.index}" in project.text["firmware/parameters.h"]
    tensors = {t.name: t for t in project.model.tensors}
    for node in graph.nodes:  # every tensor's C type is the graph's type
        assert tensors[node.name].fixed == node.out.fixed


def test_tables_are_the_emulators() -> None:
    graph = apply_config(single(Op.SIGMOID, np.random.default_rng(0)), Config())
    node = graph.nodes[-1]
    (table,) = build_model(graph, "p").layers[-1].arrays
    t = node.precision.table
    assert t is not None
    expected = lut.build_table(sigmoid._sigmoid32, 1024, sigmoid.SPAN, t)
    assert np.array_equal(table.values, t.from_mantissa(expected))


def test_untyped_graphs_are_refused() -> None:
    graph = single(Op.RELU, np.random.default_rng(0))
    with pytest.raises(HlsError, match="has no fixed-point type; configure the graph"):
        build_model(graph, "p")
    typed = apply_config(graph, Config())
    assert all(isinstance(n.out, TensorType) and n.out.fixed for n in typed.nodes)
