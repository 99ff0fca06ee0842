"""hls4ml 1.3's own rule for `auto` types (its ``InferPrecisionTypes`` optimizer pass).

In a configuration with hls4ml's semantics, `Precision: auto` means the type hls4ml would
infer, so that hls4ml's configurations (``config_from_keras_model`` writes `auto` for results,
weights and biases at granularity name) give hls4ml's bits. Each op module whose layer
hls4ml's pass covers has a ``hls4ml_auto(node, inputs, stored)`` hook that applies one of the
rules below to its input types and its resolved weight/bias types (`stored`); every other
`auto` (activations, the input layer, global pooling, weights and biases without a
quantiser) is the model's default precision, as in hls4ml's ``_infer_default_type``.

The rules are hls4ml's, transcribed from
``hls4ml/model/optimizer/passes/infer_precision.py``: they neither round nor overflow for the
products and sums they describe (hls4ml's words), but they say nothing of what follows (a
softmax fed a 38-bit result reads a constant; hepinfer's own `auto` avoids that).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from hepinfer.fixed import FixedType, Overflow, Quant

if TYPE_CHECKING:
    from hepinfer.ir.graph import Node


def _fixed(width: int, integer: int, signed: bool) -> FixedType:
    """hls4ml's ``FixedPrecisionType(width, integer, signed)``: TRN, WRAP."""
    return FixedType(width, integer, signed)


def weighted_sum(tx: FixedType, tw: FixedType, tb: FixedType, n_ops: int) -> FixedType:
    """Dense and convolution accumulator/result (``_infer_common_precision``; with a bias)."""
    grow = math.ceil(math.log2(n_ops))
    width = tw.width + tx.width + grow
    integer = tw.integer + tx.integer + grow
    signed = tw.signed or tx.signed
    frac = width - integer
    integer = max(integer + (tb.signed and not signed), tb.integer + (signed and not tb.signed)) + 1
    width = integer + max(frac, tb.width - tb.integer)
    return _fixed(width, integer, signed or tb.signed)


def scale_shift(tx: FixedType, ts: FixedType, tb: FixedType) -> FixedType:
    """BatchNormalization result: ``x * scale + bias`` (``_infer_bn_precision``)."""
    signed = ts.signed or tx.signed
    width = tx.width + ts.width
    integer = tx.integer + ts.integer
    out_signed = signed or tb.signed
    out_integer = (
        max(integer + (tb.signed and not signed), tb.integer + (signed and not tb.signed)) + 1
    )
    out_width = out_integer + max(width - integer, tb.width - tb.integer)
    return _fixed(out_width, out_integer, out_signed)


def average_accum(tx: FixedType, pool_size: int) -> FixedType:
    """Average pooling accumulator (``_infer_pooling_precision``); max pooling keeps `tx`."""
    extra = math.ceil(math.log2(pool_size))
    return _fixed(tx.width + 2 * extra, tx.integer + extra, tx.signed)


def add(a: FixedType, b: FixedType, subtract: bool = False) -> FixedType:
    """Merge add/subtract/average result (``_infer_merge_precision``)."""
    signed = a.signed or b.signed or subtract
    integer = (
        max(a.integer + (b.signed and not a.signed), b.integer + (a.signed and not b.signed)) + 1
    )
    width = integer + max(a.width - a.integer, b.width - b.integer)
    return _fixed(width, integer, signed)


def multiply(a: FixedType, b: FixedType) -> FixedType:
    """Merge multiply result (``_infer_merge_precision``)."""
    return _fixed(a.width + b.width, a.integer + b.integer, a.signed or b.signed)


def concatenate(a: FixedType, b: FixedType) -> FixedType:
    """Concatenate result (``_infer_cat_precision``): both inputs fit, their modes carried."""
    if a == b:
        return a
    signed = a.signed or b.signed
    ia = a.integer + (signed and not a.signed)
    ib = b.integer + (signed and not b.signed)
    integer = max(ia, ib)
    width = max(a.width - a.integer, b.width - b.integer) + integer
    quant = a.quant if a.quant is not Quant.TRN else b.quant
    overflow = a.overflow if a.overflow is not Overflow.WRAP else b.overflow
    sat_bits = a.sat_bits if a.sat_bits != 0 else b.sat_bits
    return FixedType(width, integer, signed, quant, overflow, sat_bits)


AutoHook = Callable[["Node", Sequence[FixedType], Mapping[str, FixedType]], dict[str, FixedType]]


def weighted_sum_hook(terms: Callable[[Node, Sequence[tuple[int, ...]]], int]) -> AutoHook:
    """The `hls4ml_auto` hook of a weighted sum (Dense, convolutions): accumulator and result
    by `weighted_sum` over the `terms(node, ...)` products one output adds.
    """

    def hook(
        node: Node, inputs: Sequence[FixedType], stored: Mapping[str, FixedType]
    ) -> dict[str, FixedType]:
        t = weighted_sum(inputs[0], stored["weight"], stored["bias"], terms(node, ()))
        return {"accum": t, "result": t}

    hook.__doc__ = "hls4ml's `auto` accumulator and result: its weighted-sum rule."
    return hook
