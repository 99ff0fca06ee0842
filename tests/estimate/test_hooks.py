"""Each operator is costed by the `cost` hook of its own module; estimate/ only dispatches."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
import hepinfer.estimate
from hepinfer.errors import EstimateError
from hepinfer.estimate import estimate_layers
from hepinfer.estimate.from_graph import graph_layers, node_context
from hepinfer.estimate.layers import LayerCost
from hepinfer.ir import Graph, Node, Op, TensorType
from hepinfer.ops import MODULES, hook
from tests.op_models import RECURRENT

#: wiring only in hls4ml-style firmware: costs nothing, left out of the estimate
WIRING = {
    Op.INPUT,
    Op.FLATTEN,
    Op.RESHAPE,
    Op.TRANSPOSE,
    Op.ZERO_PADDING,
    Op.CROPPING,
    Op.UPSAMPLING,
}
QUANT = {"scale": 0.25, "zeropt": 0.0, "bitwidth": 6, "signed": True, "narrow": False}
RNG = np.random.default_rng(7)


def _w(*shape: int) -> np.ndarray:
    return RNG.normal(0.0, 0.3, shape)


MERGES = (Op.SUBTRACT, Op.AVERAGE, Op.MAXIMUM, Op.MINIMUM)


def _einsum() -> tuple[tuple[int, ...], tuple[int, ...], dict[str, Any], dict[str, Any]]:
    from hepinfer.ops.einsum_dense import node_data

    attrs, weights = node_data("bc,bcd->bd", (2, 4), _w(2, 4, 3), _w(3))
    return (2, 4), (2, 3), attrs, weights


def _einsum2() -> dict[str, Any]:
    from hepinfer.ops.einsum import node_attrs

    return node_attrs("ic,jc->ij", (2, 4), (2, 4))


#: HGQ2's default table types (tests/ops/test_bit_exact_softmax.py: others)
BIT_EXACT_SOFTMAX = {
    "axes": (-1,),
    "norm_t": "fixed<9,3,RND,SAT>",
    "exp_table_t": "ufixed<8,2,RND_CONV,SAT>",
    "inv_in_t": "fixed<9,3,RND>",
    "inv_table_t": "ufixed<8,2,RND_CONV,SAT>",
}


def _instance(op: Op) -> tuple[tuple[int, ...], Node]:
    """(input shape, a small node of `op` named 'n' reading input 'x' (and 'y'))."""
    spec: dict[Op, tuple[tuple[int, ...], tuple[int, ...], dict[str, Any], dict[str, Any]]] = {
        Op.INPUT: ((8,), (8,), {"shape": (8,)}, {}),
        Op.DENSE: ((8,), (4,), {}, {"kernel": _w(8, 4), "bias": _w(4)}),
        Op.CONV1D: ((8, 2), (6, 4), {}, {"kernel": _w(3, 2, 4), "bias": _w(4)}),
        Op.CONV2D: ((6, 6, 2), (4, 4, 4), {}, {"kernel": _w(3, 3, 2, 4), "bias": _w(4)}),
        Op.DEPTHWISE_CONV2D: ((6, 6, 2), (4, 4, 2), {}, {"kernel": _w(3, 3, 2, 1), "bias": _w(2)}),
        Op.DEPTHWISE_CONV1D: ((8, 2), (6, 2), {}, {"kernel": _w(3, 2, 1), "bias": _w(2)}),
        Op.CONV_TRANSPOSE: (
            (3, 3, 2),
            (6, 6, 4),
            {"strides": (2, 2), "pads": (1, 1, 0, 0)},
            {"kernel": _w(3, 3, 2, 4), "bias": _w(4)},
        ),
        Op.BATCHNORM: ((8,), (8,), {}, {"scale": _w(8), "bias": _w(8)}),
        Op.QUANT: ((8,), (8,), {**QUANT, "rounding_mode": "ROUND"}, {}),
        Op.MAXPOOL: ((4, 4, 2), (2, 2, 2), {"pool": (2, 2), "strides": (2, 2)}, {}),
        Op.AVGPOOL: ((4, 4, 2), (2, 2, 2), {"pool": (2, 2), "strides": (2, 2)}, {}),
        Op.GLOBAL_MAXPOOL: ((4, 4, 2), (2,), {}, {}),
        Op.GLOBAL_AVGPOOL: ((4, 4, 2), (2,), {}, {}),
        Op.CONCAT: ((8,), (16,), {}, {}),
        Op.FLATTEN: ((4, 2), (8,), {}, {}),
        Op.RESHAPE: ((8,), (2, 4), {"shape": (2, 4)}, {}),
        Op.TRANSPOSE: ((2, 4), (4, 2), {"perm": (1, 0)}, {}),
        Op.PRELU: ((8,), (8,), {}, {"alpha": _w(8)}),
        Op.ZERO_PADDING: ((4, 4, 2), (5, 7, 2), {"pads": (1, 2, 0, 1)}, {}),
        Op.CROPPING: ((4, 4, 2), (3, 1, 2), {"crops": (1, 2, 0, 1)}, {}),
        Op.UPSAMPLING: ((4, 2), (8, 2), {"scale": (2,)}, {}),
        Op.EMBEDDING: ((8,), (8, 3), {}, {"embeddings": _w(5, 3)}),
        Op.DOT: ((8,), (1,), {}, {}),
        Op.LAYERNORM: ((2, 4), (2, 4), {}, {"scale": _w(4), "bias": _w(4)}),
        Op.EINSUM_DENSE: _einsum(),
        Op.EINSUM: ((2, 4), (2, 2), _einsum2(), {}),
        Op.CLIP: ((8,), (8,), {"min": -1.0, "max": 2.0}, {}),
        Op.MULTITHRESHOLD: ((8,), (8,), {"out_scale": 0.5}, {"thresholds": _w(8, 3)}),
        Op.FIXED_POINT_QUANTIZER: (
            (8,),
            (8,),
            {"round": "RND", "overflow": "WRAP"},
            {"k": np.ones(8), "i": np.arange(8) % 3, "f": np.arange(8) % 4},
        ),
        Op.UNARY_LUT: ((8,), (8,), {"index_frac": 2}, {"table": np.arange(16) / 4 - 2}),
        Op.BIT_EXACT_SOFTMAX: ((2, 4), (2, 4), BIT_EXACT_SOFTMAX, {}),
        **{op: _recurrent(op) for op in Op if op.value in RECURRENT},
        Op.GARNET: _garnet(("",)),
        Op.GARNET_STACK: _garnet(("0", "1")),
    }
    in_shape, out_shape, attrs, weights = spec.get(op, ((8,), (8,), {}, {}))  # element-wise
    inputs = (
        ()
        if op is Op.INPUT
        else ("x", "y")
        if op in (Op.ADD, Op.MULTIPLY, Op.CONCAT, Op.DOT, Op.EINSUM, *MERGES, *GARNETS)
        else ("x",)
    )
    return in_shape, Node("n", op, inputs, TensorType(out_shape), attrs, weights)


GARNETS = (Op.GARNET, Op.GARNET_STACK)


def _garnet(suffixes: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[int, ...], dict, dict]:
    """4 vertices of 2 features, 2 aggregators, 3 propagated, 2 outputs per sublayer, mean."""
    w = {}
    for s in suffixes:
        w |= {f"FLR{s}_kernel": _w(2, 3), f"FLR{s}_bias": _w(3), f"S{s}_kernel": _w(2, 2)}
        w |= {f"S{s}_bias": _w(2), f"Fout{s}_kernel": _w(6, 2), f"Fout{s}_bias": _w(2)}
    attrs = {"n_vertices": 4, "collapse": "mean", "n_sublayers": len(suffixes)}
    return (4, 2), (2,), attrs, w


def _recurrent(op: Op) -> tuple[tuple[int, ...], tuple[int, ...], dict, dict]:
    """A 4-step sequence of 3 features into 2 units."""
    g = 2 * RECURRENT[op.value]
    rng = np.random.default_rng(0)
    w = {"kernel": rng.normal(size=(3, g)), "recurrent_kernel": rng.normal(size=(2, g))}
    w |= {"bias": np.zeros(g), "recurrent_bias": np.zeros(g)}
    return (4, 3), (2,), {"units": 2}, w


def _configured(op: Op) -> Graph:
    in_shape, node = _instance(op)
    nodes = (
        []
        if op is Op.INPUT
        else [Node("x", Op.INPUT, (), TensorType(in_shape), {"shape": in_shape})]
    )
    if "y" in node.inputs:
        y_shape = (1,) if op in GARNETS else in_shape  # GarNet's second input: the count
        nodes.append(Node("y", Op.INPUT, (), TensorType(y_shape), {"shape": y_shape}))
    graph = Graph("one", (*nodes, node), ("n",))
    config = {"Model": {"Precision": "ap_fixed<16,6>"}, "FoldBatchNorm": False}
    return hepinfer.compile(graph, config).graph


@pytest.mark.parametrize("op", list(Op), ids=lambda op: op.value)
def test_every_operator_has_a_cost_hook_that_costs_it(op: Op) -> None:
    cost = hook(op, "cost")
    assert cost is MODULES[op].cost  # defined in the operator's own module
    graph = _configured(op)
    node = graph.node("n")
    assert node.op is op
    ctx = node_context(graph, node, hepinfer.config.Config.hls4ml())
    layers: list[LayerCost] | None = None
    try:
        layers = cost(node, ctx)
    except EstimateError as exc:  # an op the estimator cannot express must say which
        message = str(exc)
    if layers is None:
        assert op.value in message
        return
    assert isinstance(layers, list)
    assert all(isinstance(lay, LayerCost) for lay in layers)
    if op in WIRING:
        assert layers == []
        return
    assert {lay.name for lay in layers} == {"n"}  # sub-steps (LayerNormalization) too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = estimate_layers(layers, part="xcu250", clock_period=5.0)
    assert est.latency_cycles >= 0
    assert est.ii >= 1


def test_an_operator_without_a_cost_hook_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = _configured(Op.DENSE)
    monkeypatch.delattr(MODULES[Op.DENSE], "cost")
    with pytest.raises(EstimateError, match=r"node 'n'.*operator 'Dense' has no 'cost' hook"):
        graph_layers(graph)


def _estimate_modules() -> list[Path]:
    root = Path(hepinfer.estimate.__file__).parent
    return sorted(root.glob("*.py"))


def test_no_module_of_estimate_keeps_a_table_keyed_by_op() -> None:
    names = [m.name for m in pkgutil.iter_modules(hepinfer.estimate.__path__)]
    assert "from_graph" in names
    for name in names:
        module = importlib.import_module(f"hepinfer.estimate.{name}")
        for attr, value in vars(module).items():
            if isinstance(value, Mapping):
                assert not any(isinstance(k, Op) for k in value), f"{name}.{attr} is keyed by Op"
    for path in _estimate_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for item in ast.walk(tree):
            if isinstance(item, ast.Dict):
                keys = [ast.unparse(k) for k in item.keys if k is not None]
                assert not any(k.startswith("Op.") for k in keys), f"{path.name}: {keys}"
            if isinstance(item, ast.Subscript):
                text = ast.unparse(item)
                assert not text.startswith(("dict[Op", "Mapping[Op")), f"{path.name}: {text}"
