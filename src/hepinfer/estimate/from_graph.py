"""The compiler's IR -> the estimator's layer descriptions (`hepinfer.estimate.layers`).

`graph_layers(graph, config)` walks a configured graph (every node's types chosen by
`hepinfer.passes.apply_config`) in execution order and asks each node's operator for its
costs: ``hepinfer.ops.hook(node.op, "cost")(node, ctx)``, the ``cost`` function of the op's
own module in `hepinfer.ops` (records of `hepinfer.ops.cost`, helpers in
`hepinfer.ops.costing`). Operators that are wiring only in hls4ml-style firmware (Input,
Flatten, Reshape, Transpose) return no costs and are left out of the estimate. An operator
without a ``cost`` hook, or one that cannot be costed, raises `EstimateError`.

What a hook gets besides the node (`NodeContext`):

- the types of its inputs (`input_types`): each input tensor's `FixedType`;
- the shapes of its inputs, the io type and the model-level default type from the
  configuration.

Weights are the graph's own arrays (after batch-norm folding), so pruned (zero),
power-of-two and narrow constants are costed one by one at the configured weight type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hepinfer.errors import EstimateError, GraphError
from hepinfer.estimate.layers import LayerCost, NodeContext
from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op

if TYPE_CHECKING:
    from hepinfer.config import Config
    from hepinfer.estimate.parts import Part
    from hepinfer.estimate.report import Estimate

__all__ = [
    "NodeContext",
    "estimate_graph",
    "graph_layers",
    "input_type",
    "input_types",
    "node_context",
]


def _tensor_type(graph: Graph, name: str, default: FixedType) -> FixedType:
    """The type of the tensor node `name` produces: its ``out.fixed``, set by type inference.

    `default` serves only for a graph input left without a type.
    """
    node = graph.node(name)
    if node.out.fixed is not None:
        return node.out.fixed
    if node.op is Op.INPUT:
        return default
    msg = (
        f"tensor {name!r} ({node.op.value}) has no fixed-point type: estimate a configured "
        "graph (hepinfer.compile, or hepinfer.passes.apply_config, which infers every type)"
    )
    raise EstimateError(msg)


def input_types(graph: Graph, node: Node, default: FixedType) -> tuple[FixedType, ...]:
    """The types of `node`'s input tensors (`default` where the graph has none)."""
    return tuple(_tensor_type(graph, i, default) for i in node.inputs)


def input_type(graph: Graph, node: Node, default: FixedType) -> FixedType:
    """The type of `node`'s first input tensor (`default` where the graph has none)."""
    return _tensor_type(graph, node.inputs[0], default) if node.inputs else default


def node_context(graph: Graph, node: Node, config: Config) -> NodeContext:
    """What `node`'s cost hook gets besides the node (module docstring)."""
    default = config.model.precision.default
    if not isinstance(default, FixedType):
        msg = f"the model-level default precision must be a type, not {default!r}"
        raise EstimateError(msg)
    return NodeContext(
        input_types(graph, node, default),
        tuple(graph.node(i).out.shape for i in node.inputs),
        config.io_type,
        default,
    )


def graph_layers(graph: Graph, config: Config | None = None) -> list[LayerCost]:
    """The layer costs of a configured graph, in execution order (module docstring).

    `config` gives the io type (default io_parallel) and the default type for nodes the
    configuration left without one; per-layer settings are read from the nodes.
    """
    from hepinfer.config import Config
    from hepinfer.ops import hook

    cfg = config or Config()
    layers: list[LayerCost] = []
    for node in graph.nodes:
        if node.op is Op.INPUT:
            continue
        try:
            cost = hook(node.op, "cost")
        except GraphError as exc:
            msg = f"node {node.name!r}: the estimator cannot cost it: {exc}"
            raise EstimateError(msg) from exc
        ctx = node_context(graph, node, cfg)
        try:
            layers.extend(cost(node, ctx))
        except (KeyError, ValueError, GraphError) as exc:
            msg = f"node {node.name!r} ({node.op.value}) cannot be costed: {exc}"
            raise EstimateError(msg) from exc
    return layers


def estimate_graph(
    graph: Graph,
    config: Config | None = None,
    part: str | Part | None = None,
    clock_period: float | None = None,
    *,
    tool: str | None = None,
) -> Estimate:
    """Estimate a configured graph on `part` (default: the configuration's part) at
    `clock_period` ns (default: the configuration's), with the rules of HLS generation
    `tool` (default: the current Vitis, `hepinfer.estimate.tools.DEFAULT_TOOL`).
    """
    from hepinfer.config import Config
    from hepinfer.estimate.model import estimate_layers

    cfg = config or Config()
    return estimate_layers(
        graph_layers(graph, cfg),
        part=cfg.part if part is None else part,
        clock_period=cfg.clock_period if clock_period is None else clock_period,
        tool=tool,
    )
