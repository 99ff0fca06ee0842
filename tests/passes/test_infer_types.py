"""Type inference: the types on the graph are exactly the types the emulator's kernels carry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hepinfer.config import Config
from hepinfer.emulate.run import emulate_fixed
from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph, TensorType
from hepinfer.ir.op import Op
from hepinfer.ir.serialize import graph_from_dict, graph_to_dict
from hepinfer.ir.verify import verify
from hepinfer.passes.apply_config import apply_config
from hepinfer.passes.infer_types import infer_types
from tests.op_models import ANY_SHAPE, OPS, chain, single, uniform_inputs

CONFIGS = {
    "default": Config(),
    "hls4ml": Config.hls4ml(),
    "hls4ml_10_4": Config.hls4ml("ap_fixed<10,4>"),
    "unsigned_input": Config.from_dict(
        {
            "Model": {"Precision": "ap_fixed<14,5>"},
            "LayerName": {"x": {"Precision": {"result": "ap_ufixed<8,3>"}}},
            "LayerType": {"Softmax": {"Precision": {"table": "ap_fixed<16,6>"}}},
        }
    ),
}


def _check_types(graph: Graph, seed: int) -> None:
    trace = emulate_fixed(graph, uniform_inputs(graph, np.random.default_rng(seed)), trace=True)
    for node in graph.nodes:
        assert node.out.fixed is not None, node.name
        assert trace[node.name].t == node.out.fixed, (node.name, node.op)


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("op", OPS, ids=[op.value for op in OPS])
def test_every_tensor_type_is_what_the_emulator_carries(op: Op, config: str) -> None:
    for seed in range(4):
        rng = np.random.default_rng(seed)
        graph = apply_config(single(op, rng), CONFIGS[config])
        _check_types(graph, seed)
        rest = [ANY_SHAPE[i] for i in rng.integers(0, len(ANY_SHAPE), size=2)]
        _check_types(apply_config(chain(op, rest, rng), CONFIGS[config]), seed)


def test_defaults_are_written_on_the_graph() -> None:
    rng = np.random.default_rng(1)
    for op in (Op.SIGMOID, Op.TANH, Op.ELU, Op.SOFTMAX):
        node = apply_config(single(op, rng), Config.hls4ml()).nodes[-1]
        assert node.precision.table == (
            FixedType.parse("ap_fixed<18,8,RND,SAT>")
            if op is Op.SOFTMAX
            else FixedType.parse("ap_fixed<18,8>")
        )
        if op is Op.SOFTMAX:
            assert node.precision.accum is not None


def test_inference_is_idempotent_and_serialised() -> None:
    graph = apply_config(single(Op.SOFTMAX, np.random.default_rng(0)), Config())
    again = infer_types(graph)
    assert [(n.out, n.precision) for n in again.nodes] == [
        (n.out, n.precision) for n in graph.nodes
    ]
    data, weights = graph_to_dict(graph)
    loaded = verify(graph_from_dict(data, weights))
    assert [n.out for n in loaded.nodes] == [n.out for n in graph.nodes]


def test_verifier_checks_configured_types() -> None:
    graph = apply_config(single(Op.RELU, np.random.default_rng(0)), Config())
    relu = graph.nodes[-1]
    wrong = relu.replace(out=TensorType(relu.out.shape, FixedType.parse("ap_fixed<9,3>")))
    with pytest.raises(GraphError, match=r"carries type ap_fixed<9,3>.*rule gives"):
        verify(graph.with_nodes([*graph.nodes[:-1], wrong]))
    untyped = relu.replace(out=TensorType(relu.out.shape))
    with pytest.raises(GraphError, match="has no fixed-point type"):
        verify(graph.with_nodes([*graph.nodes[:-1], untyped]))
    retyped = relu.replace(precision=dataclasses.replace(relu.precision, result=FixedType(9, 3)))
    with pytest.raises(GraphError, match="run type inference"):
        verify(graph.with_nodes([*graph.nodes[:-1], retyped]))
    # an unconfigured graph carries no types and passes
    verify(single(Op.RELU, np.random.default_rng(0)))
