"""Value ranges of every node: interval analysis from the input types, or calibration data.

Used by `auto` precision. Intervals are element-wise (lo, hi) arrays per node; each op's
module gives its rule (`interval` hook, see `hepinfer.ops.bounds`), sound for the fixed-point
kernels. Calibration data gives observed ranges instead (tighter, not guaranteed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy.typing as npt

from hepinfer.fixed import FixedType
from hepinfer.ir.graph import Graph, Node
from hepinfer.ops import hook
from hepinfer.ops.bounds import Bounds, Interval, cast, full


def node_interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Element-wise bounds of `node`'s stored output: its op's `interval` rule on the input
    bounds, then the cast to its result type (when configured).
    """
    iv: Interval = hook(node.op, "interval")(node, inputs)
    return cast(node.precision.result, iv)


def node_bounds(node: Node, inputs: Sequence[Bounds], fixed: FixedType | None) -> Bounds:
    """`node_interval` with the type of the output (`fixed`), as its readers see it."""
    lo, hi = node_interval(node, inputs)
    return Bounds(lo, hi, fixed)


def interval_ranges(
    graph: Graph, input_ranges: Mapping[str, tuple[float, float]]
) -> dict[str, Bounds]:
    """Element-wise (lo, hi) of every node, given (lo, hi) of the data fed to each input."""
    out: dict[str, Bounds] = {}
    for node in graph.nodes:
        if node.inputs:
            ins = [out[i] for i in node.inputs]
        else:
            ins = [Bounds(*full(node.out.shape, *input_ranges[node.name]))]
        out[node.name] = node_bounds(node, ins, node.out.fixed)
    return out


def observed_ranges(graph: Graph, data: npt.ArrayLike) -> dict[str, tuple[float, float]]:
    """(min, max) of every node's float output on calibration data."""
    from hepinfer.emulate.run import emulate_float

    values = emulate_float(graph, data, trace=True)
    return {k: (float(v.min()), float(v.max())) for k, v in values.items()}
