"""The immutable model graph: typed tensors, nodes and the graph that orders them.

Every node produces exactly one tensor, named like the node. Tensor shapes exclude the batch
dimension and use channels-last layout (like hls4ml's `io_parallel`): a Conv2D activation is
(height, width, channels). Nodes are stored in a topological order; graph inputs are nodes of
kind `Op.INPUT`. Rewrites never mutate: they build new nodes and graphs (`dataclasses.replace`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError
from hepinfer.ir.op import Op

if TYPE_CHECKING:
    from hepinfer.fixed import FixedType

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NodePrecision:
    """The fixed-point types of one node (None: not used by this op, or not yet chosen)."""

    result: FixedType | None = None
    accum: FixedType | None = None
    weight: FixedType | None = None
    bias: FixedType | None = None
    table: FixedType | None = None
    #: recurrent layers: the recurrent kernel's and recurrent bias' types
    recurrent_weight: FixedType | None = None
    recurrent_bias: FixedType | None = None

    def items(self) -> Iterator[tuple[str, FixedType]]:
        """(variable, type) for every type that is set."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                yield f.name, value


@dataclass(frozen=True)
class TensorType:
    """Shape (without the batch dimension) and fixed-point type of a tensor.

    `fixed` is None until type inference (`hepinfer.passes`) has run; after it, every tensor
    of a configured graph has its type, and every target reads it from here.
    """

    shape: tuple[int, ...]
    fixed: FixedType | None = None

    def __post_init__(self) -> None:
        if any(int(d) <= 0 for d in self.shape):
            msg = f"tensor shape {self.shape} has a non-positive dimension; shapes must be > 0"
            raise GraphError(msg)

    @property
    def size(self) -> int:
        """Number of elements per sample."""
        return int(np.prod(self.shape, dtype=np.int64))


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, eq=False)
class Node:
    """One operator application.

    `attrs` are plain values (ints, floats, strings, tuples); `weights` are float64 arrays
    (e.g. Dense: `kernel` of shape (n_in, n_out) and `bias`); `precision` is filled in from
    the configuration by `hepinfer.passes.apply_config`.
    """

    name: str
    op: Op
    inputs: tuple[str, ...]
    out: TensorType
    attrs: Mapping[str, Any] = field(default_factory=dict)
    weights: Mapping[str, FloatArray] = field(default_factory=dict)
    precision: NodePrecision = field(default_factory=NodePrecision)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attrs", _frozen(self.attrs))
        frozen_weights = {}
        for key, value in self.weights.items():
            arr = np.array(value, dtype=np.float64)
            arr.setflags(write=False)
            frozen_weights[key] = arr
        object.__setattr__(self, "weights", MappingProxyType(frozen_weights))

    def replace(self, **changes: Any) -> Node:
        """A copy of this node with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class Graph:
    """A model: nodes in topological order and the names of the output tensors."""

    name: str
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]

    def node(self, name: str) -> Node:
        """The node called `name` (GraphError if there is none)."""
        for n in self.nodes:
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes)
        msg = f"no node named {name!r} in graph {self.name!r}; nodes: {known}"
        raise GraphError(msg)

    @property
    def inputs(self) -> tuple[Node, ...]:
        """The graph's input nodes, in order."""
        return tuple(n for n in self.nodes if n.op is Op.INPUT)

    def consumers(self, name: str) -> tuple[Node, ...]:
        """Nodes that read the tensor `name`."""
        return tuple(n for n in self.nodes if name in n.inputs)

    def replace(self, **changes: Any) -> Graph:
        """A copy of this graph with some fields changed."""
        return dataclasses.replace(self, **changes)

    def with_nodes(self, nodes: tuple[Node, ...] | list[Node]) -> Graph:
        """A copy with another node list (same name and outputs)."""
        return dataclasses.replace(self, nodes=tuple(nodes))
