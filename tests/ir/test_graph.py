"""The IR: frozen nodes and graphs, the verifier, the text form."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.ir import Graph, Node, NodePrecision, Op, TensorType, format_graph, verify


def small_graph() -> Graph:
    x = Node("x", Op.INPUT, (), TensorType((3,)), {"shape": (3,)})
    kernel = np.arange(6.0).reshape(3, 2)
    dense = Node(
        "fc", Op.DENSE, ("x",), TensorType((2,)), {}, {"kernel": kernel, "bias": [1.0, -1.0]}
    )
    relu = Node("fc_relu", Op.RELU, ("fc",), TensorType((2,)))
    return Graph("g", (x, dense, relu), ("fc_relu",))


def test_nodes_are_immutable() -> None:
    g = small_graph()
    fc = g.node("fc")
    with pytest.raises(AttributeError):
        fc.name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        fc.weights["kernel"][0, 0] = 5.0
    with pytest.raises(TypeError):
        fc.attrs["k"] = 1  # type: ignore[index]
    assert fc.weights["bias"].dtype == np.float64


def test_verify_accepts_a_good_graph() -> None:
    g = small_graph()
    assert verify(g) is g
    assert [n.name for n in g.inputs] == ["x"]
    assert g.consumers("fc") == (g.node("fc_relu"),)


def test_verify_rejects_duplicate_names() -> None:
    g = small_graph()
    bad = g.with_nodes([*g.nodes, g.node("fc_relu")])
    with pytest.raises(GraphError, match="used twice"):
        verify(bad)


def test_verify_rejects_wrong_order_and_unknown_inputs() -> None:
    g = small_graph()
    with pytest.raises(GraphError, match="topological"):
        verify(g.with_nodes([g.nodes[0], g.nodes[2], g.nodes[1]]))
    with pytest.raises(GraphError, match="not a node"):
        verify(g.replace(outputs=("nope",)))


def test_verify_rejects_a_wrong_shape() -> None:
    g = small_graph()
    wrong = g.node("fc").replace(out=TensorType((5,)))
    with pytest.raises(GraphError, match=r"declares output shape \(5,\)"):
        verify(g.with_nodes([g.nodes[0], wrong, g.nodes[2]]))


def test_tensor_type_rejects_non_positive_dims() -> None:
    with pytest.raises(GraphError, match="non-positive"):
        TensorType((3, 0))


def test_text_form_shows_ops_shapes_weights_and_types() -> None:
    g = small_graph()
    typed = g.node("fc").replace(precision=NodePrecision(result=FixedType(16, 6)))
    text = format_graph(g.with_nodes([g.nodes[0], typed, g.nodes[2]]))
    assert "%fc = Dense(%x) -> [2] weights(kernel:3x2, bias:2) <result=ap_fixed<16,6>>" in text
    assert text.splitlines()[-2] == "  return %fc_relu"


def test_op_parse() -> None:
    assert Op.parse("dense") is Op.DENSE
    assert Op.parse("GLOBAL_AVGPOOL") is Op.GLOBAL_AVGPOOL
    with pytest.raises(ValueError, match="unknown operator type 'Foo'"):
        Op.parse("Foo")
