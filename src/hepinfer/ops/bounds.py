"""Interval arithmetic shared by the ops' `interval` hooks (sound element-wise value bounds).

An `Interval` is a pair of float64 arrays (lo, hi) of one tensor's per-sample shape: every
value the tensor can take lies in [lo, hi] element-wise. The rules are sound for the fixed-point
kernels, not only for the float maths: weights count as the values their configured types
hold, and every cast to a configured type widens the bounds by its quantisation step (and,
where the type wraps and the bounds do not fit, gives the type's whole range).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.ir.graph import Node

FloatArray = npt.NDArray[np.float64]
Interval = tuple[FloatArray, FloatArray]


@dataclass(frozen=True, eq=False)
class Bounds:
    """What an `interval` rule reads of one input: its bounds and, when known, its type.

    Unpacks and indexes like an `Interval` (`lo, hi = bounds`).
    """

    lo: FloatArray
    hi: FloatArray
    fixed: FixedType | None = None

    def __iter__(self) -> Iterator[FloatArray]:
        return iter((self.lo, self.hi))

    def __getitem__(self, i: int) -> FloatArray:
        return (self.lo, self.hi)[i]


#: an interval, or the bounds of an input
Pair = Interval | Bounds


def full(shape: Sequence[int], lo: float, hi: float) -> Interval:
    """The same bounds for every element of a tensor of `shape`."""
    return np.full(tuple(shape), float(lo)), np.full(tuple(shape), float(hi))


def one(node: Node, inputs: Sequence[Bounds]) -> Bounds:
    """The single input interval of a one-input op (GraphError otherwise)."""
    if len(inputs) != 1:
        msg = f"node {node.name!r} ({node.op.value}) takes 1 input, got {len(inputs)} intervals"
        raise GraphError(msg)
    return inputs[0]


def held(values: npt.ArrayLike, t: FixedType | None) -> FloatArray:
    """`values` as a variable of type `t` holds them (unchanged when `t` is None)."""
    arr = np.asarray(values, dtype=np.float64)
    if t is None:
        return arr
    return np.asarray(t.from_mantissa(t.to_mantissa(arr)), dtype=np.float64)


def cast(t: FixedType | None, iv: Pair) -> Interval:
    """Bounds of the values after assignment to `t` (None: no cast).

    Quantisation moves a value by less than one step (down only for TRN); a saturating type
    clips; a wrapping type gives its whole range wherever the bounds do not fit it.
    """
    lo, hi = iv
    if t is None:
        return lo, hi
    step = 2.0**-t.frac
    lo = lo - step
    hi = hi if t.quant is Quant.TRN else hi + step
    tmin, tmax = float(t.min), float(t.max)
    clipped = np.clip(lo, tmin, tmax), np.clip(hi, tmin, tmax)
    if t.overflow is not Overflow.WRAP:
        return clipped
    outside = (lo < tmin) | (hi > tmax)
    return np.where(outside, tmin, clipped[0]), np.where(outside, tmax, clipped[1])


def corners(a: Pair, b: Pair) -> Interval:
    """Bounds of the element-wise product: min/max of the four corner products."""
    prods = np.stack([a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]])
    return prods.min(axis=0), prods.max(axis=0)


def accumulated(lo: FloatArray, hi: FloatArray, terms: int, accum: FixedType | None) -> Interval:
    """Bounds of a sum of `terms` products each cast to `accum` (one step each, at most), and
    of the sum cast to `accum`; unchanged without an accumulator type.
    """
    if accum is None:
        return lo, hi
    slack = terms * 2.0**-accum.frac
    return cast(accum, (lo - slack, hi if accum.quant is Quant.TRN else hi + slack))


def weighted_sum(
    lo: FloatArray, hi: FloatArray, w: FloatArray, accum: FixedType | None, bias: FloatArray
) -> Interval:
    """Bounds of `x @ w + bias` for x in [lo, hi] (last axis of x against w's first), each
    product split by the weight's sign, summed in `accum` (see `accumulated`).
    """
    wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
    out_lo = lo @ wp + hi @ wn + bias
    out_hi = hi @ wp + lo @ wn + bias
    return accumulated(out_lo, out_hi, int(w.shape[0]), accum)


def envelope(values: Sequence[FloatArray]) -> Interval:
    """Element-wise min and max over candidate values (a function at its interval's ends
    and break points, for piecewise monotone functions).
    """
    stacked = np.stack(list(values))
    return stacked.min(axis=0), stacked.max(axis=0)


def two(node: Node, inputs: Sequence[Bounds]) -> tuple[Bounds, Bounds]:
    """The two input intervals of a merge (GraphError otherwise)."""
    if len(inputs) != 2:
        msg = f"node {node.name!r} ({node.op.value}) takes 2 inputs, got {len(inputs)} intervals"
        raise GraphError(msg)
    return inputs[0], inputs[1]


def integer_bits(lo: float, hi: float, signed: bool = True) -> int:
    """The fewest integer bits (sign included when signed) that hold every value in [lo, hi]."""
    bits = 1 if signed else 0
    if hi > 0:
        bits = max(bits, int(np.floor(np.log2(hi))) + 1 + int(signed))
    if lo < 0:
        bits = max(bits, int(np.ceil(np.log2(-lo))) + 1)
    return bits


def unsigned_result(default: FixedType, hi: float | None) -> FixedType:
    """An unsigned type of the default's width with the integer bits that hold [0, hi]
    (at least 1; `hi` None: values up to 1).
    """
    top = 1.0 if hi is None else hi
    return FixedType(default.width, max(1, integer_bits(0, top, signed=False)), False)
