"""The compiler's IR -> the estimator's layer descriptions (`hepinfer.estimate.layers`).

`graph_layers(graph, config)` walks a configured graph (every node's types chosen by
`hepinfer.passes.apply_config`) in execution order and maps each node to layer costs:

- weights are the graph's own arrays (after batch-norm folding), so pruned (zero),
  power-of-two and narrow constants are costed one by one at the configured weight type;
- precisions are the node's configured types: its input is the result type of the node
  that feeds it (through Flatten / Reshape / Transpose, which keep their input's type);
- reuse factor, strategy and table size come from the node's attributes (set from the
  configuration), the io type from the configuration;
- Conv1D / Conv2D geometry from the kernel, strides and pads ('same' when the pads are
  Keras's 'same' pads, otherwise 'valid' on the padded input; dilated kernels keep their
  product count and output size); a depthwise Conv2D is a convolution of one input channel
  per filter (each output sums only its own channel's window); a Dense applied per pixel or
  time step (input of rank > 1) is a 1-wide convolution.

Every `Op` has an entry in `RULES`: a function returning the node's costs, or `_free` for
operators that are wiring only in hls4ml-style firmware (Input, Flatten, Reshape,
Transpose), which cost nothing and are left out of the estimate. An operator without an
entry raises `EstimateError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hepinfer.errors import EstimateError
from hepinfer.estimate.layers import (
    ActivationCost,
    BatchNormCost,
    ConvCost,
    DenseCost,
    ElementwiseCost,
    LayerCost,
    PoolCost,
)
from hepinfer.estimate.precision import Precision
from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op

if TYPE_CHECKING:
    from hepinfer.config import Config
    from hepinfer.estimate.parts import Part
    from hepinfer.estimate.report import Estimate
    from hepinfer.fixed import FixedType

__all__ = ["RULES", "NodeContext", "estimate_graph", "graph_layers"]

DEFAULT_TABLE_SIZE = 1024
DEFAULT_TABLE_BITS = 18  # hls4ml's ap_fixed<18,8> tables


@dataclass(frozen=True)
class NodeContext:
    """What a rule needs besides the node: its input types and shapes, the io type."""

    input_types: tuple[FixedType, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    io_type: Literal["io_parallel", "io_stream"]
    default: FixedType

    @property
    def input(self) -> FixedType:
        """The type of the first input."""
        return self.input_types[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the first input (no batch dimension)."""
        return self.input_shapes[0]


Rule = Callable[[Node, NodeContext], list[LayerCost]]


def _prec(t: FixedType) -> Precision:
    return Precision(t.width, t.integer, t.signed)


def _opt(t: FixedType | None) -> Precision | None:
    return None if t is None else _prec(t)


def _strategy(node: Node) -> Literal["latency", "resource"]:
    value = str(node.attrs.get("strategy", "latency")).lower()
    if value not in ("latency", "resource"):
        msg = f"node {node.name!r}: strategy {value!r} is not 'latency' or 'resource'"
        raise EstimateError(msg)
    return "resource" if value == "resource" else "latency"


def _rf(node: Node) -> int:
    return int(node.attrs.get("reuse_factor", 1))


def _common(node: Node, ctx: NodeContext) -> dict[str, Any]:
    """Precisions and knobs shared by Dense and convolutions."""
    p = node.precision
    return {
        "name": node.name,
        "input": _prec(ctx.input),
        "weight": _prec(p.weight or ctx.default),
        "bias": _prec(p.bias or ctx.default),
        "accum": _opt(p.accum),
        "output": _opt(p.result),
        "reuse_factor": _rf(node),
        "strategy": _strategy(node),
        "io_type": ctx.io_type,
    }


def _free(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """Wiring only (reordering or renaming a tensor): no resources, no cycles."""
    del node, ctx
    return []


def _dense(node: Node, ctx: NodeContext) -> list[LayerCost]:
    kernel = node.weights["kernel"]
    n_in, n_out = (int(d) for d in kernel.shape)
    pixels = int(np.prod(ctx.shape[:-1], dtype=np.int64))
    if pixels == 1:
        return [DenseCost(n_in=n_in, n_out=n_out, weights=kernel, **_common(node, ctx))]
    # a Dense applied to every pixel / time step: a convolution with a 1-wide kernel
    return [
        ConvCost(
            in_width=pixels,
            n_chan=n_in,
            n_filt=n_out,
            filt_width=1,
            weights=kernel,
            **_common(node, ctx),
        )
    ]


def _spatial(node: Node, key: str, rank: int, default: int) -> tuple[int, ...]:
    from hepinfer.ops.conv import ints

    return ints(node, key, rank, default)


def _geometry(
    node: Node, in_spatial: tuple[int, ...], window: tuple[int, ...]
) -> tuple[tuple[int, ...], tuple[int, ...], Literal["valid", "same"]]:
    """(input size to cost, strides, padding) per spatial axis, matching the IR's output."""
    from hepinfer.ops.conv import geometry, same_pads

    rank = len(window)
    strides, dilations, pads, out = geometry(node, in_spatial, window)
    if all(d == 1 for d in dilations):
        if not any(pads):
            return in_spatial, strides, "valid"
        if tuple(pads) == same_pads(in_spatial, window, strides):
            return in_spatial, strides, "same"
        padded = tuple(in_spatial[i] + pads[i] + pads[rank + i] for i in range(rank))
        return padded, strides, "valid"
    # dilated: the same products per output on an input that gives the same output size
    return tuple((out[i] - 1) * strides[i] + window[i] for i in range(rank)), strides, "valid"


def _conv(node: Node, ctx: NodeContext) -> list[LayerCost]:
    kernel = node.weights["kernel"]
    rank = kernel.ndim - 2
    window = tuple(int(d) for d in kernel.shape[:rank])
    size, strides, padding = _geometry(node, ctx.shape[:rank], window)
    height, width = (1, *size) if rank == 1 else size
    f_h, f_w = (1, *window) if rank == 1 else window
    s_h, s_w = (1, *strides) if rank == 1 else strides
    depthwise = node.op is Op.DEPTHWISE_CONV2D
    n_chan = 1 if depthwise else int(kernel.shape[rank])
    n_filt = int(kernel.shape[rank]) if depthwise else int(kernel.shape[-1])
    return [
        ConvCost(
            in_width=width,
            in_height=height,
            n_chan=n_chan,
            n_filt=n_filt,
            filt_width=f_w,
            filt_height=f_h,
            stride_width=s_w,
            stride_height=s_h,
            padding=padding,
            weights=kernel,  # (kh, kw, c, 1) of a depthwise kernel is (kh, kw, 1, c) in order
            **_common(node, ctx),
        )
    ]


def _size(node: Node) -> int:
    return int(np.prod(node.out.shape, dtype=np.int64))


def _activation(kind: str) -> Rule:
    def rule(node: Node, ctx: NodeContext) -> list[LayerCost]:
        table = node.precision.table
        return [
            ActivationCost(
                name=node.name,
                kind=kind,
                n=_size(node),
                n_chan=int(node.out.shape[-1]),
                input=_prec(ctx.input),
                output=_opt(node.precision.result),
                table_size=int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE)),
                table_bits=table.width if table is not None else DEFAULT_TABLE_BITS,
                io_type=ctx.io_type,
            )
        ]

    rule.__doc__ = f"A {kind} activation over the node's output elements."
    return rule


def _softmax(node: Node, ctx: NodeContext) -> list[LayerCost]:
    if str(node.attrs.get("implementation", "stable")) == "argmax":
        # no tables: a comparator tree over the classes (a max pool of the whole vector)
        n = int(node.out.shape[-1])
        rows = _size(node) // n
        return [
            PoolCost(
                name=node.name,
                in_width=n,
                in_height=rows,
                n_chan=1,
                pool_width=n,
                pool_height=1,
                op="max",
                input=_prec(ctx.input),
                io_type=ctx.io_type,
            )
        ]
    return _activation("softmax")(node, ctx)


def _quant(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A QONNX Quant on activations is a cast to its type: a linear activation."""
    from hepinfer.ops.quant import fixed_type

    return [
        ActivationCost(
            name=node.name,
            kind="linear",
            n=_size(node),
            n_chan=int(node.out.shape[-1]),
            input=_prec(ctx.input),
            output=_prec(fixed_type(node.attrs)),
            io_type=ctx.io_type,
        )
    ]


def _pool(kind: Literal["max", "average"], global_: bool) -> Rule:
    def rule(node: Node, ctx: NodeContext) -> list[LayerCost]:
        rank = len(ctx.shape) - 1
        if rank not in (1, 2):
            msg = f"{node.op.value} {node.name!r}: input {ctx.shape} is not (w, c) or (h, w, c)"
            raise EstimateError(msg)
        spatial = tuple(int(d) for d in ctx.shape[:rank])
        if global_:
            window, size, strides = spatial, spatial, spatial
        else:
            from hepinfer.ops.conv import geometry

            window = _spatial(node, "pool", rank, 2)
            strides, _, pads, _ = geometry(node, spatial, window)
            size = tuple(spatial[i] + pads[i] + pads[rank + i] for i in range(rank))
        height, width = (1, *size) if rank == 1 else size
        p_h, p_w = (1, *window) if rank == 1 else window
        s_h, s_w = (1, *strides) if rank == 1 else strides
        return [
            PoolCost(
                name=node.name,
                in_width=width,
                in_height=height,
                n_chan=int(ctx.shape[-1]),
                pool_width=p_w,
                pool_height=p_h,
                stride_width=s_w,
                stride_height=s_h,
                op=kind,
                input=_prec(ctx.input),
                io_type=ctx.io_type,
            )
        ]

    rule.__doc__ = f"{'Global ' if global_ else ''}{kind} pooling."
    return rule


def _batchnorm(node: Node, ctx: NodeContext) -> list[LayerCost]:
    return [
        BatchNormCost(
            name=node.name,
            n=_size(node),
            n_chan=int(node.out.shape[-1]),
            input=_prec(ctx.input),
            scale=_prec(node.precision.weight or ctx.default),
            output=_opt(node.precision.result),
            reuse_factor=_rf(node),
            io_type=ctx.io_type,
        )
    ]


def _merge(op: Literal["add", "multiply", "concatenate"]) -> Rule:
    def rule(node: Node, ctx: NodeContext) -> list[LayerCost]:
        widest = max(ctx.input_types, key=lambda t: (t.width, t.integer))
        return [
            ElementwiseCost(
                name=node.name,
                op=op,
                n=_size(node),
                n_chan=int(node.out.shape[-1]),
                input=_prec(widest),
                io_type=ctx.io_type,
            )
        ]

    rule.__doc__ = f"An element-wise {op} of the inputs."
    return rule


RULES: Mapping[Op, Rule] = {
    Op.INPUT: _free,
    Op.FLATTEN: _free,
    Op.RESHAPE: _free,
    Op.TRANSPOSE: _free,
    Op.DENSE: _dense,
    Op.CONV1D: _conv,
    Op.CONV2D: _conv,
    Op.DEPTHWISE_CONV2D: _conv,
    Op.BATCHNORM: _batchnorm,
    Op.LINEAR: _activation("linear"),
    Op.RELU: _activation("relu"),
    Op.LEAKY_RELU: _activation("leaky_relu"),
    Op.ELU: _activation("elu"),
    Op.SIGMOID: _activation("sigmoid"),
    Op.TANH: _activation("tanh"),
    Op.HARD_SIGMOID: _activation("hard_sigmoid"),
    Op.SOFTMAX: _softmax,
    Op.QUANT: _quant,
    Op.MAXPOOL: _pool("max", global_=False),
    Op.AVGPOOL: _pool("average", global_=False),
    Op.GLOBAL_MAXPOOL: _pool("max", global_=True),
    Op.GLOBAL_AVGPOOL: _pool("average", global_=True),
    Op.ADD: _merge("add"),
    Op.MULTIPLY: _merge("multiply"),
    Op.CONCAT: _merge("concatenate"),
}
"""How each operator is costed (`_free`: wiring only, left out of the estimate)."""


def graph_layers(
    graph: Graph, config: Config | None = None, rules: Mapping[Op, Rule] = RULES
) -> list[LayerCost]:
    """The layer costs of a configured graph, in execution order (module docstring).

    `config` gives the io type (default io_parallel) and the default type for nodes the
    configuration left without one; per-layer settings are read from the nodes.
    """
    from hepinfer.config import Config, IOType
    from hepinfer.fixed import FixedType
    from hepinfer.ops.quant import fixed_type

    cfg = config or Config()
    default = cfg.model.precision.default
    if not isinstance(default, FixedType):
        msg = f"the model-level default precision must be a type, not {default!r}"
        raise EstimateError(msg)
    io_type: Literal["io_parallel", "io_stream"] = (
        "io_stream" if cfg.io_type is IOType.STREAM else "io_parallel"
    )
    types: dict[str, FixedType] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    layers: list[LayerCost] = []
    for node in graph.nodes:
        shapes[node.name] = node.out.shape
        rule = rules.get(node.op)
        if rule is None:
            known = ", ".join(op.value for op in rules)
            msg = (
                f"node {node.name!r}: the estimator has no cost rule for operator "
                f"{node.op.value!r}; add one to hepinfer.estimate.from_graph.RULES "
                f"(operators with rules: {known})"
            )
            raise EstimateError(msg)
        in_types = tuple(types.get(i, default) for i in node.inputs)
        if node.op is Op.QUANT:
            types[node.name] = fixed_type(node.attrs)
        elif node.precision.result is not None:
            types[node.name] = node.precision.result
        else:
            types[node.name] = in_types[0] if in_types else default
        if node.op is Op.INPUT:
            continue
        ctx = NodeContext(in_types, tuple(shapes[i] for i in node.inputs), io_type, default)
        try:
            layers.extend(rule(node, ctx))
        except (KeyError, ValueError) as exc:
            msg = f"node {node.name!r} ({node.op.value}) cannot be costed: {exc}"
            raise EstimateError(msg) from exc
    return layers


def estimate_graph(
    graph: Graph,
    config: Config | None = None,
    part: str | Part | None = None,
    clock_period: float | None = None,
) -> Estimate:
    """Estimate a configured graph on `part` (default: the configuration's part) at
    `clock_period` ns (default: the configuration's).
    """
    from hepinfer.config import Config
    from hepinfer.estimate.model import estimate_layers

    cfg = config or Config()
    return estimate_layers(
        graph_layers(graph, cfg),
        part=cfg.part if part is None else part,
        clock_period=cfg.clock_period if clock_period is None else clock_period,
    )
