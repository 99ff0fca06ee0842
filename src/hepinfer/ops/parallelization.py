"""hls4ml's `ParallelizationFactor` of convolutions: how many output positions at once.

hls4ml 1.3 (`VivadoBackend.init_conv1d` / `init_conv2d`) takes the layer's
`ParallelizationFactor` (PF, default 1); the valid values are the divisors of the layer's
output positions (`out_width`, or `out_height * out_width`; `get_valid_conv_partition_splits`).
Another value is replaced by the closest valid one (the smaller of two equally close) with a
warning, and the layer gets `n_partitions = positions // PF`. Its io_parallel kernel
(`conv_{1,2}d_latency_cl`) loops over the `n_partitions` partitions, pipelined at
II = `reuse_factor`, and computes the `n_pixels = positions / n_partitions` positions of a
partition at once (unrolled). PF changes only that schedule, never the arithmetic.

hepinfer applies the same rule when the configuration is applied
(`hepinfer.passes.apply_config` stores the valid PF as the node's `parallelization_factor`
attribute), writes the same `n_partitions` / `n_pixels` into the HLS project and uses the
same loop (`hepinfer_conv.h`); with any convolution split into more than one partition the
io_parallel top function is a DATAFLOW, as hls4ml's `SetPipelineStyle` makes it.

hls4ml 1.3 applies the same rule to DepthwiseConv1D / DepthwiseConv2D (`init_depconv1d`,
`init_depconv2d`, with `get_layer_config_value(layer, 'ParallelizationFactor', 1)`: the lookup
of `hepinfer.config.Config.parallelization_factor`) and loops over the partitions in
`depthwise_conv_{1,2}d_latency_cl` as in the Conv kernels; its DepthwiseConv classes are
Conv1D / Conv2D subclasses, so their partitions make the top a DATAFLOW too.
A SeparableConv1D / SeparableConv2D is split by its `SeparableToDepthwiseAndConv` pass into
`<name>_depthwise` (DepthwiseConv) and `<name>_pointwise` (Conv), each given a copy of the
layer's configuration, as hepinfer's frontend splits it (`hepinfer.config` gives a part its
layer's settings): each part gets its factor by the rules above.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from hepinfer.errors import ConfigError
from hepinfer.ir.graph import Node
from hepinfer.ir.op import Op

__all__ = [
    "OPS",
    "Partitions",
    "closest",
    "partitions",
    "positions",
    "resolve",
    "valid_factors",
]

#: the ops whose ParallelizationFactor is applied: hls4ml's Conv1D, Conv2D (its `pf_layers`),
#: DepthwiseConv1D, DepthwiseConv2D and the parts of SeparableConv1D / SeparableConv2D
OPS = frozenset({Op.CONV1D, Op.CONV2D, Op.DEPTHWISE_CONV1D, Op.DEPTHWISE_CONV2D})
_log = logging.getLogger("hepinfer.config")


def valid_factors(positions: int) -> list[int]:
    """The valid factors of a layer with `positions` output positions: its divisors, in
    increasing order (hls4ml's `get_valid_conv_partition_splits`).
    """
    if positions < 1:
        msg = f"a convolution with {positions} output positions has no ParallelizationFactor"
        raise ConfigError(msg)
    return [i for i in range(1, positions // 2 + 1) if positions % i == 0] + [positions]


def closest(valid: Sequence[int], chosen: int) -> int:
    """The valid value closest to `chosen`, the smaller one on a tie (hls4ml's
    `get_closest_reuse_factor`, which it uses for the ParallelizationFactor too).
    """
    pos = bisect_left(valid, chosen)
    if pos == 0:
        return valid[0]
    if pos == len(valid):
        return valid[-1]
    before, after = valid[pos - 1], valid[pos]
    return after if after - chosen < chosen - before else before


def resolve(layer: str, chosen: int, positions: int) -> int:
    """The factor hls4ml 1.3 uses for `chosen` on a layer of `positions` output positions;
    a value that does not divide them is replaced by the closest valid one, with hls4ml's
    warning (logged) and what hepinfer adds (the rule).
    """
    if chosen < 1:
        msg = (
            f"ParallelizationFactor {chosen} of layer {layer!r} must be a positive integer "
            f"(1 ... {positions}, a divisor of its {positions} output positions)"
        )
        raise ConfigError(msg)
    valid = valid_factors(positions)
    if chosen in valid:
        return chosen
    near = closest(valid, chosen)
    _log.warning(
        'Invalid ParallelizationFactor=%d in layer "%s".Using ParallelizationFactor=%d '
        "instead. Valid ParallelizationFactor(s): %s. (hepinfer: the factor must divide the "
        "layer's %d output positions)",
        chosen,
        layer,
        near,
        ",".join(map(str, valid)),
        positions,
    )
    return near


@dataclass(frozen=True)
class Partitions:
    """The schedule of a convolution: `n_partitions` partitions of `n_pixels` positions."""

    factor: int
    n_partitions: int
    n_pixels: int


def positions(node: Node) -> int:
    """Output positions of a channels-last convolution node (all axes but the last)."""
    return math.prod(int(d) for d in node.out.shape[:-1])


def partitions(node: Node, out_positions: int | None = None) -> Partitions:
    """The node's schedule: its `parallelization_factor` attribute (1 when unset, hls4ml's
    default), `n_partitions = positions // factor`, `n_pixels = factor`.
    """
    n = positions(node) if out_positions is None else out_positions
    factor = int(node.attrs.get("parallelization_factor", 1))
    if factor < 1 or n % factor:
        msg = (
            f"{node.op.value} {node.name!r}: parallelization_factor {factor} does not divide "
            f"its {n} output positions; apply the configuration (hepinfer.passes.apply_config) "
            f"or give one of {valid_factors(n)}"
        )
        raise ConfigError(msg)
    return Partitions(factor, n // factor, factor)
