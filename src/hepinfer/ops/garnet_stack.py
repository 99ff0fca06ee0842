"""GarNetStack: several simplified GarNet sublayers in one layer, as hls4ml 1.3's
`nnet::garnet_stack` computes them (io_parallel only).

Each sublayer is a GarNet (`hepinfer.ops.garnet`, which holds the arithmetic) whose weights are
Keras' `FLR<i>`, `S<i>` and `Fout<i>` (attr `n_sublayers`); a sublayer's vertex outputs, in the
layer's `result_t`, are the next one's input, and only the computed vertices (below the
vertex count) are read. hls4ml 1.3 compiles a stack only with `collapse='mean'` (its
per-vertex form reads edge weights that the last sublayer does not keep) and with two or more
sublayers (with one it applies the sublayer twice); hepinfer's frontend refuses the others.
"""

from __future__ import annotations

from hepinfer.ir.op import Op
from hepinfer.ops.base import OpSpec
from hepinfer.ops.garnet import (
    cost,
    hls,
    hls4ml_auto,
    infer_types,
    interval,
    run_fixed,
    run_float,
    shape,
)

SPEC = OpSpec(
    Op.GARNET_STACK, shape, run_float, run_fixed, ("result", "accum", "table"), "GarNetStack"
)

__all__ = ["SPEC", "cost", "hls", "hls4ml_auto", "infer_types", "interval"]
