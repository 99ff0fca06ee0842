"""Embedding (hls4ml's nnet_embed.h): each input value indexes a table of `vocab` rows, and
becomes that row: input (seq,) -> (seq, dim). The table is held in `weight_t` (hls4ml's
`embeddings_t`), each value cast to `result_t`.

The index is the input's integer part (floor), clipped to [0, vocab - 1]. hls4ml's kernel
reads row `data[j]` unchecked, so outside that range (and for fractional inputs) it is
undefined there; Keras refuses such inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import costing
from hepinfer.ops.base import FloatArray, OpSpec, Types, n_inputs, need, result_types, weight
from hepinfer.ops.bounds import Bounds, Interval, held, one
from hepinfer.ops.cost import ActivationCost, LayerCost, NodeContext
from hepinfer.ops.lowering import HlsArray, Lowering, fixed, inputs_count, sizes, unsupported

IntArray = npt.NDArray[np.int64]


def _table(node: Node) -> FloatArray:
    table = weight(node, "embeddings")
    if table.ndim != 2:
        msg = f"Embedding {node.name!r}: table of shape {table.shape} must be (vocab, dim)"
        raise GraphError(msg)
    return table


def shape(node: Node, inputs: Sequence[TensorType]) -> tuple[int, ...]:
    n_inputs(node, inputs, 1)
    return (*inputs[0].shape, int(_table(node).shape[1]))


def _rows(node: Node, index: npt.NDArray[np.int64]) -> IntArray:
    return np.clip(index, 0, _table(node).shape[0] - 1)


def run_float(node: Node, xs: Sequence[FloatArray]) -> FloatArray:
    out: FloatArray = _table(node)[_rows(node, np.floor(xs[0]).astype(np.int64))]
    return out


def run_fixed(node: Node, xs: Sequence[FxArray]) -> FxArray:
    x = xs[0]
    tw, tr = need(node, "weight"), need(node, "result")
    whole = x.m >> x.t.frac if x.t.frac >= 0 else x.m << -x.t.frac
    table = tw.to_mantissa(_table(node))
    return FxArray(tr.cast_mantissa(table[_rows(node, whole)], tw), tr)


def infer_types(node: Node, inputs: Sequence[FixedType]) -> Types:
    """The output and internal types: `result_t` and the configured weight (the table), result."""
    del inputs
    return result_types(node, ("weight", "result"))


def weight_values(node: Node) -> FloatArray:
    """The values the kernel holds in `weight_t` (the table), as `auto` weight types size them."""
    return _table(node).reshape(-1)


def interval(node: Node, inputs: Sequence[Bounds]) -> Interval:
    """Per output column, the least and largest table value of the rows the inputs reach."""
    lo, hi = one(node, inputs)
    table = held(_table(node), node.precision.weight)
    first = _rows(node, np.floor(lo).astype(np.int64)).reshape(-1)
    last = _rows(node, np.floor(hi).astype(np.int64)).reshape(-1)
    out_lo = np.stack([table[a : b + 1].min(axis=0) for a, b in zip(first, last, strict=True)])
    out_hi = np.stack([table[a : b + 1].max(axis=0) for a, b in zip(first, last, strict=True)])
    out_shape = (*np.shape(lo), table.shape[1])
    return out_lo.reshape(out_shape), out_hi.reshape(out_shape)


def hls(node: Node, inputs: Sequence[TensorType]) -> Lowering:
    """`embedding`: the table in `weight_t`, rows chosen by the input's integer part."""
    inputs_count(node, inputs, 1, "HLS")
    tx, tw = fixed(node, inputs[0]), need(node, "weight")
    if tx.frac < 0:
        raise unsupported(node, "HLS", f"its input type {tx} has no fractional bits to drop")
    table = _table(node)
    consts = sizes(node, inputs) | {
        "vocab": str(table.shape[0]),
        "dim": str(table.shape[1]),
        "in_frac": str(tx.frac),
    }
    arrays = (HlsArray("e", "weight", tw, tw.to_mantissa(table).reshape(-1)),)
    return Lowering("embedding", consts, {"weight_t": tw}, arrays)


SPEC = OpSpec(Op.EMBEDDING, shape, run_float, run_fixed, ("weight", "result"), "Embedding")


def cost(node: Node, ctx: NodeContext) -> list[LayerCost]:
    """A lookup of a `vocab`-entry table of `weight_t` values per output element."""
    return [
        ActivationCost(
            name=node.name,
            kind="embedding",
            n=costing.size(node),
            n_chan=int(node.out.shape[-1]),
            input=ctx.input,
            output=node.precision.result,
            table_size=int(_table(node).shape[0]),
            table_bits=need(node, "weight").width,
            io_type=ctx.io_type,
        )
    ]
