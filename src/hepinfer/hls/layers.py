"""Graph -> the plain values the HLS templates render: tensors, layers, weights, tables.

Every value a template prints comes from here (C types, sizes, config constants); the C++
itself lives in template files. What each layer is (kernel family, constants, types, weights
and tables) comes from its op's `hls` hook (`hepinfer.ops.<op>.hls`, a `Lowering`); tables
are built there with the emulator's own functions, so the firmware's tables equal the
emulator's. Every tensor's type is the graph's (`out.fixed`, set by type inference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hepinfer.errors import HlsError
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph, Node
from hepinfer.ops import hook
from hepinfer.ops.lowering import Lowering, need_exact

FloatArray = npt.NDArray[np.float64]


def c_type(t: FixedType) -> str:
    """The C++ spelling of a fixed-point type."""
    return str(t)


def exact_values(t: FixedType, m: npt.NDArray[np.int64]) -> FloatArray:
    """The values of mantissas `m` of type `t` as float64 (exact: widths up to 53 bits)."""
    need_exact(t, "a stored array")
    return np.asarray(t.from_mantissa(m), dtype=np.float64).reshape(-1)


def identifier(name: str) -> str:
    """A C identifier made from a node name."""
    out = re.sub(r"\W", "_", name)
    return out if out and not out[0].isdigit() else f"l_{out}"


@dataclass(frozen=True)
class Array:
    """A constant array of a layer (weights, biases or a table)."""

    name: str
    ctype: str
    values: FloatArray

    @property
    def size(self) -> int:
        return int(self.values.size)

    def literals(self) -> list[str]:
        """Exact decimal literals of the values (repr round-trips float64)."""
        return [repr(float(v)) for v in self.values]


@dataclass(frozen=True)
class Tensor:
    """A tensor of the graph: its C variable name, type and per-sample size."""

    name: str
    var: str
    ctype: str
    fixed: FixedType
    size: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Layer:
    """One kernel call: its family, tensors, config constants, types and arrays."""

    index: int
    name: str
    op: str
    kernel: str
    src: Tensor
    dst: Tensor
    consts: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    arrays: tuple[Array, ...] = ()
    others: tuple[Tensor, ...] = ()  #: the inputs after `src` (merges)
    pixel_input: bool = False  #: io_stream: reads one pixel (the last axis) per word
    same_width: bool = False  #: io_stream: writes words as wide as it reads

    @property
    def config(self) -> str:
        return f"config{self.index}"

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        """Every input tensor, in the node's order."""
        return (self.src, *self.others)


@dataclass(frozen=True)
class Model:
    """Everything the templates need for one project."""

    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    tensors: tuple[Tensor, ...]
    layers: tuple[Layer, ...]

    @property
    def arrays(self) -> tuple[Array, ...]:
        return tuple(a for layer in self.layers for a in layer.arrays)

    @property
    def resource(self) -> bool:
        """Whether a layer uses the Resource strategy (io_parallel's top is then a DATAFLOW)."""
        return any(layer.consts.get("strategy") == "hepinfer::resource" for layer in self.layers)

    @property
    def partitioned(self) -> bool:
        """Whether a convolution computes its output positions in more than one partition
        (ParallelizationFactor below its positions): hls4ml's `SetPipelineStyle` then makes
        the io_parallel top a DATAFLOW, so the partition loop stays a pipelined loop.
        """
        return any(int(layer.consts.get("n_partitions", "1")) != 1 for layer in self.layers)


def build_model(graph: Graph, project: str) -> Model:
    """The template values for `graph`; HlsError for operators the writer does not cover."""
    tensors: dict[str, Tensor] = {}
    for node in graph.nodes:
        t = node.out.fixed
        if t is None:
            msg = (
                f"tensor {node.name!r} of graph {graph.name!r} has no fixed-point type; "
                "configure the graph first (hepinfer.passes.apply_config infers every type)"
            )
            raise HlsError(msg)
        var = identifier(node.name)
        tensors[node.name] = Tensor(
            node.name, var, f"{var}_t", t, node.out.size, tuple(node.out.shape)
        )
    layers = []
    outs = {n.name: n.out for n in graph.nodes}
    for index, node in enumerate(graph.nodes):
        if not node.inputs:
            continue  # graph inputs are ports of the top function
        lowering = hook(node.op, "hls")(node, [outs[i] for i in node.inputs])
        inputs = [tensors[i] for i in node.inputs]
        layers.append(_layer(index, node, lowering, inputs, tensors[node.name]))
    return Model(
        name=project,
        inputs=tuple(tensors[n.name] for n in graph.inputs),
        outputs=tuple(tensors[o] for o in graph.outputs),
        tensors=tuple(tensors.values()),
        layers=tuple(layers),
    )


def _layer(index: int, node: Node, low: Lowering, inputs: list[Tensor], dst: Tensor) -> Layer:
    """The template values of one kernel call described by its op's `hls` hook."""
    name = identifier(node.name)
    arrays = tuple(
        Array(f"{a.prefix}{index}", f"{name}_{a.var}_t", exact_values(a.fixed, a.mantissas))
        for a in low.arrays
    )
    return Layer(
        index,
        node.name,
        node.op.value,
        low.kernel,
        inputs[0],
        dst,
        dict(low.consts),
        {key: c_type(t) for key, t in low.types.items()},
        arrays,
        tuple(inputs[1:]),
        low.pixel_input,
        low.same_width,
    )
