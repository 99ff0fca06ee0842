"""Shared machinery of the operators' `cost` hooks (records in `hepinfer.ops.cost`).

An op module's ``cost(node, ctx)`` maps a configured node to cost records: precisions are the
node's configured types (its input type comes in ``ctx``), reuse factor, strategy and table
size come from the node's attributes (set from the configuration), the io type from ``ctx``.
The helpers here serve operator families: the knobs of multiplying layers, table and
comparator activations, convolution geometry, pooling, and merges.

Convolution geometry ('same' when the pads are Keras's 'same' pads, otherwise 'valid' on the
padded input; dilated kernels keep their product count and output size) follows the IR's
output shape; a depthwise Conv2D is a convolution of one input channel per filter (each
output sums only its own channel's window).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from hepinfer.errors import EstimateError, HepinferError
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op
from hepinfer.knobs import Strategy
from hepinfer.ops import parallelization
from hepinfer.ops.conv import geometry, ints, same_pads
from hepinfer.ops.cost import (
    ActivationCost,
    ConvCost,
    ElementwiseCost,
    LayerCost,
    NodeContext,
    PoolCost,
)
from hepinfer.ops.lut import DEFAULT_TABLE_SIZE, table_type

__all__ = [
    "activation",
    "conv",
    "matmul_fields",
    "merge",
    "pool",
    "reuse_factor",
    "size",
    "strategy",
]


def strategy(node: Node) -> Strategy:
    """The node's strategy (attribute ``strategy``, set from the configuration; Latency)."""
    value = node.attrs.get("strategy", Strategy.LATENCY)
    try:
        return Strategy.parse(value, f"node {node.name!r}: strategy")
    except HepinferError as exc:
        raise EstimateError(str(exc)) from exc


def reuse_factor(node: Node) -> int:
    """The node's reuse factor (attribute ``reuse_factor``; 1 when unset)."""
    return int(node.attrs.get("reuse_factor", 1))


def size(node: Node) -> int:
    """Elements of the node's output (no batch dimension)."""
    return int(np.prod(node.out.shape, dtype=np.int64))


def matmul_fields(node: Node, ctx: NodeContext) -> dict[str, Any]:
    """Types and knobs shared by the records of Dense and convolutions."""
    p = node.precision
    return {
        "name": node.name,
        "input": ctx.input,
        "weight": p.weight or ctx.default,
        "bias": p.bias or ctx.default,
        "accum": p.accum,
        "output": p.result,
        "reuse_factor": reuse_factor(node),
        "strategy": strategy(node),
        "io_type": ctx.io_type,
    }


def activation(node: Node, ctx: NodeContext, kind: str) -> list[LayerCost]:
    """An activation of ``kind`` over the node's output elements (tables of `hepinfer.ops.lut`)."""
    return [
        ActivationCost(
            name=node.name,
            kind=kind,
            n=size(node),
            n_chan=int(node.out.shape[-1]),
            input=ctx.input,
            output=node.precision.result,
            table_size=int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE)),
            table_bits=table_type(node).width,
            io_type=ctx.io_type,
        )
    ]


def _geometry(
    node: Node, in_spatial: tuple[int, ...], window: tuple[int, ...]
) -> tuple[tuple[int, ...], tuple[int, ...], Literal["valid", "same"]]:
    """(input size to cost, strides, padding) per spatial axis, matching the IR's output."""
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


def conv(node: Node, ctx: NodeContext, depthwise: bool | None = None) -> list[LayerCost]:
    """A Conv1D, Conv2D or depthwise convolution (channels last, kernel ``(*window, c, f)``;
    `depthwise`: one input channel per filter, by default for a DepthwiseConv2D node).
    """
    kernel = node.weights["kernel"]
    rank = kernel.ndim - 2
    window = tuple(int(d) for d in kernel.shape[:rank])
    in_size, strides, padding = _geometry(node, ctx.shape[:rank], window)
    height, width = (1, *in_size) if rank == 1 else in_size
    f_h, f_w = (1, *window) if rank == 1 else window
    s_h, s_w = (1, *strides) if rank == 1 else strides
    if depthwise is None:
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
            depthwise=depthwise,
            kernel="hepinfer",  # the graph's firmware: hepinfer_conv_stream.h in io_stream
            parallelization_factor=(
                parallelization.partitions(node).factor if node.op in parallelization.OPS else 1
            ),
            **matmul_fields(node, ctx),
        )
    ]


def pool(
    node: Node, ctx: NodeContext, kind: Literal["max", "average"], *, global_: bool
) -> list[LayerCost]:
    """Max or average pooling of a (w, c) or (h, w, c) input; global: one window of it all."""
    rank = len(ctx.shape) - 1
    if rank not in (1, 2):
        msg = f"{node.op.value} {node.name!r}: input {ctx.shape} is not (w, c) or (h, w, c)"
        raise EstimateError(msg)
    spatial = tuple(int(d) for d in ctx.shape[:rank])
    if global_:
        window, in_size, strides = spatial, spatial, spatial
    else:
        window = ints(node, "pool", rank, 2)
        strides, _, pads, _ = geometry(node, spatial, window)
        in_size = tuple(spatial[i] + pads[i] + pads[rank + i] for i in range(rank))
    height, width = (1, *in_size) if rank == 1 else in_size
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
            input=ctx.input,
            io_type=ctx.io_type,
        )
    ]


def merge(
    node: Node,
    ctx: NodeContext,
    op: Literal["add", "subtract", "multiply", "maximum", "minimum", "average", "concatenate"],
) -> list[LayerCost]:
    """An element-wise ``op`` of the inputs, costed at the widest input type."""
    widest = max(ctx.input_types, key=lambda t: (t.width, t.integer))
    return [
        ElementwiseCost(
            name=node.name,
            op=op,
            n=size(node),
            n_chan=int(node.out.shape[-1]),
            input=widest,
            io_type=ctx.io_type,
        )
    ]
