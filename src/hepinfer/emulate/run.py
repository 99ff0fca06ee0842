"""Interpret a graph node by node, vectorised over the batch (no per-sample Python loop).

Fixed-point mode carries int64 mantissas with their types (`FxArray`) from node to node;
each node's kernel reproduces the firmware's arithmetic. Float mode runs the float64
reference kernels (the framework's maths, for comparison).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hepinfer.emulate.fuse import dense_chains
from hepinfer.errors import HepinferError
from hepinfer.ir.graph import Graph
from hepinfer.ir.inputs import Inputs, bind_inputs
from hepinfer.ir.op import Op
from hepinfer.ops import spec
from hepinfer.ops.dense import run_chain
from hepinfer.ops.fxarray import FxArray
from hepinfer.ops.native import check_engine, current_engine, use_engine

FloatArray = npt.NDArray[np.float64]


def emulate_float(graph: Graph, x: Inputs, trace: bool = False) -> dict[str, FloatArray]:
    """Float64 reference run; returns the graph outputs, or every node's output if `trace`."""
    values: dict[str, FloatArray] = {}
    inputs = bind_inputs(graph, x)
    for node in graph.nodes:
        if node.op is Op.INPUT:
            values[node.name] = inputs[node.name]
        else:
            values[node.name] = spec(node.op).run_float(node, [values[i] for i in node.inputs])
    keep = values if trace else {o: values[o] for o in graph.outputs}
    return dict(keep)


def emulate_fixed(
    graph: Graph, x: Inputs, trace: bool = False, engine: str | None = None
) -> dict[str, FxArray]:
    """Bit-exact run; returns outputs (or every node's output) as mantissas with types.

    `engine`: 'auto', 'numpy' or 'native' (see `hepinfer.ops.native`); None keeps the one in
    effect (`$HEPINFER_ENGINE`, default 'auto'). Every engine gives the same bits.
    """
    with use_engine(engine):
        return _emulate_fixed(graph, x, trace)


def _emulate_fixed(graph: Graph, x: Inputs, trace: bool) -> dict[str, FxArray]:
    values: dict[str, FxArray] = {}
    inputs = bind_inputs(graph, x)
    chains = {} if trace or current_engine() == "numpy" else dense_chains(graph)
    skip: set[str] = set()
    for node in graph.nodes:
        if node.name in skip:
            continue
        if node.name in chains:
            members = chains[node.name]
            fused = run_chain(members, values[node.inputs[0]])
            if fused is not None:
                values[members[-1].name] = fused
                skip.update(m.name for m in members)
                continue
        kernel = spec(node.op).run_fixed
        if node.op is Op.INPUT:
            from hepinfer.ops.base import need

            values[node.name] = FxArray.from_float(inputs[node.name], need(node, "result"))
        else:
            values[node.name] = kernel(node, [values[i] for i in node.inputs])
    keep = values if trace else {o: values[o] for o in graph.outputs}
    return dict(keep)


def emulate(
    graph: Graph,
    x: Inputs,
    trace: bool = False,
    mode: str = "fixed",
    engine: str | None = None,
) -> dict[str, FloatArray]:
    """Run the graph and return float64 arrays; `mode` is `fixed` (bit-exact) or `float`;
    `engine` picks the fixed-point kernels (see `emulate_fixed`).
    """
    if engine is not None:
        check_engine(engine)
    if mode == "float":
        return emulate_float(graph, x, trace)
    if mode != "fixed":
        msg = f"emulation mode {mode!r} is not 'fixed' or 'float'"
        raise HepinferError(msg)
    return {k: v.to_float() for k, v in emulate_fixed(graph, x, trace, engine).items()}
