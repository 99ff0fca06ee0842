"""Value ranges of every node: interval analysis from the input types, or calibration data.

Used by `auto` precision. Intervals are element-wise (lo, hi) arrays per node, propagated
exactly for Dense/BatchNorm (split of weights by sign), clamped by activations with known
output ranges; calibration data gives observed ranges instead (tighter).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.op import Op

FloatArray = npt.NDArray[np.float64]
Interval = tuple[FloatArray, FloatArray]

_BOUNDED: dict[Op, tuple[float, float]] = {
    Op.SIGMOID: (0.0, 1.0),
    Op.HARD_SIGMOID: (0.0, 1.0),
    Op.SOFTMAX: (0.0, 1.0),
    Op.TANH: (-1.0, 1.0),
}


def _dense(node: Node, x: Interval) -> Interval:
    w, b = node.weights["kernel"], node.weights["bias"]
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    lo, hi = x
    return lo @ wp + hi @ wn + b, hi @ wp + lo @ wn + b


def _batchnorm(node: Node, x: Interval) -> Interval:
    s, t = node.weights["scale"], node.weights["bias"]
    a, c = x[0] * s + t, x[1] * s + t
    return np.minimum(a, c), np.maximum(a, c)


_RULES: dict[Op, Callable[[Node, Interval], Interval]] = {
    Op.DENSE: _dense,
    Op.BATCHNORM: _batchnorm,
    Op.RELU: lambda _, x: (np.maximum(x[0], 0), np.maximum(x[1], 0)),
    Op.FLATTEN: lambda _, x: (x[0].reshape(-1), x[1].reshape(-1)),
    Op.RESHAPE: lambda n, x: (x[0].reshape(n.out.shape), x[1].reshape(n.out.shape)),
}


def interval_ranges(
    graph: Graph, input_ranges: dict[str, tuple[float, float]]
) -> dict[str, Interval]:
    """Element-wise (lo, hi) of every node, given (lo, hi) of each input."""
    out: dict[str, Interval] = {}
    for node in graph.nodes:
        if node.op is Op.INPUT:
            lo, hi = input_ranges[node.name]
            out[node.name] = (np.full(node.out.shape, lo), np.full(node.out.shape, hi))
        elif node.op in _BOUNDED:
            lo, hi = _BOUNDED[node.op]
            out[node.name] = (np.full(node.out.shape, lo), np.full(node.out.shape, hi))
        elif node.op in _RULES:
            out[node.name] = _RULES[node.op](node, out[node.inputs[0]])
        else:
            srcs = [out[i] for i in node.inputs]
            lo = min(float(s[0].min()) for s in srcs)
            hi = max(float(s[1].max()) for s in srcs)
            mag = max(abs(lo), abs(hi)) * max(1, len(srcs))
            out[node.name] = (np.full(node.out.shape, -mag), np.full(node.out.shape, mag))
    return out


def observed_ranges(graph: Graph, data: npt.ArrayLike) -> dict[str, tuple[float, float]]:
    """(min, max) of every node's float output on calibration data."""
    from hepinfer.emulate.run import emulate_float

    values = emulate_float(graph, data, trace=True)
    return {k: (float(v.min()), float(v.max())) for k, v in values.items()}


def integer_bits(lo: float, hi: float, signed: bool = True) -> int:
    """The fewest integer bits (sign included when signed) that hold every value in [lo, hi]."""
    bits = 1 if signed else 0
    if hi > 0:
        bits = max(bits, int(np.floor(np.log2(hi))) + 1 + int(signed))
    if lo < 0:
        bits = max(bits, int(np.ceil(np.log2(-lo))) + 1)
    return bits
