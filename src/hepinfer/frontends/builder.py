"""Incremental graph construction shared by the frontends (shapes inferred per node)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import FrontendError
from hepinfer.ir.graph import Graph, Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ir.verify import verify
from hepinfer.ops import spec

#: activation names (Keras / ONNX / torch spellings, lower case) -> Op. Every frontend looks
#: element-wise activations up here (Keras `activation=` and `Activation`, an ONNX node of that
#: op type, a torch module or function of that name), so a new activation without attributes
#: is one line here.
ACTIVATIONS: dict[str, Op] = {
    "linear": Op.LINEAR,
    "identity": Op.LINEAR,
    "relu": Op.RELU,
    "softmax": Op.SOFTMAX,
    "sigmoid": Op.SIGMOID,
    "tanh": Op.TANH,
    "hard_sigmoid": Op.HARD_SIGMOID,
    "hardsigmoid": Op.HARD_SIGMOID,
    "leaky_relu": Op.LEAKY_RELU,
    "leakyrelu": Op.LEAKY_RELU,
    "elu": Op.ELU,
    "softplus": Op.SOFTPLUS,
    "softsign": Op.SOFTSIGN,
    "selu": Op.SELU,
}


def clean_name(name: str) -> str:
    """A C-identifier-safe node name (hls4ml and HLS need identifiers)."""
    out = re.sub(r"[^0-9A-Za-z_]", "_", name)
    if not out or out[0].isdigit():
        out = f"layer_{out}"
    return out


class GraphBuilder:
    """Appends nodes in order, inferring each output shape from the op's shape function."""

    def __init__(self, name: str) -> None:
        self.name = clean_name(name)
        self.nodes: list[Node] = []
        self._by_name: dict[str, Node] = {}

    def unique(self, name: str) -> str:
        """`name` made an identifier and unique within the graph."""
        base = clean_name(name)
        out, i = base, 1
        while out in self._by_name:
            out, i = f"{base}_{i}", i + 1
        return out

    def has(self, name: str) -> bool:
        return name in self._by_name

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self._by_name[name].out.shape

    def input(self, name: str, shape: Sequence[int]) -> str:
        """Add a graph input of the given per-sample shape; returns its node name."""
        dims = tuple(int(d) for d in shape)
        if any(d <= 0 for d in dims):
            msg = (
                f"input {name!r} has shape {tuple(shape)}; every non-batch dimension must be known"
            )
            raise FrontendError(msg)
        node = Node(self.unique(name), Op.INPUT, (), TensorType(dims), {"shape": dims})
        return self._append(node)

    def add(
        self,
        name: str,
        op: Op,
        inputs: Sequence[str],
        attrs: Mapping[str, Any] | None = None,
        weights: Mapping[str, npt.ArrayLike] | None = None,
    ) -> str:
        """Add a node; its output shape is inferred. Returns the (unique) node name."""
        w = {k: np.asarray(v, dtype=np.float64) for k, v in (weights or {}).items()}
        draft = Node(self.unique(name), op, tuple(inputs), TensorType((1,)), attrs or {}, w)
        in_types = [self._by_name[i].out for i in inputs]
        out = TensorType(spec(op).shape(draft, in_types))
        return self._append(draft.replace(out=out))

    def activation(
        self, name: str, kind: str, source: str, attrs: Mapping[str, Any] | None = None
    ) -> str:
        """Add an activation by its framework name (relu, softmax, ...); linear adds nothing."""
        op = ACTIVATIONS.get(kind.lower())
        if op is None:
            msg = (
                f"activation {kind!r} of layer {name!r} is not supported; supported: "
                f"{', '.join(sorted(ACTIVATIONS))}"
            )
            raise FrontendError(msg)
        params = dict(attrs or {})
        if op is Op.LEAKY_RELU:
            params.setdefault("alpha", 0.3)
        elif op is Op.HARD_SIGMOID:
            params.setdefault("slope", 0.2)
            params.setdefault("shift", 0.5)
        return self.add(name, op, [source], params)

    def replace(self, node: Node) -> None:
        """Swap in a new version of an existing node (same name, same output shape)."""
        old = self._by_name[node.name]
        self.nodes[self.nodes.index(old)] = node
        self._by_name[node.name] = node

    def _append(self, node: Node) -> str:
        self.nodes.append(node)
        self._by_name[node.name] = node
        return node.name

    def build(self, outputs: Sequence[str]) -> Graph:
        """The finished, verified graph."""
        return verify(Graph(self.name, tuple(self.nodes), tuple(outputs)))
