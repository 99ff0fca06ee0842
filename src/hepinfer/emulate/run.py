"""Interpret a graph node by node, vectorised over the batch (no per-sample Python loop).

Fixed-point mode carries int64 mantissas with their types (`FxArray`) from node to node;
each node's kernel reproduces the firmware's arithmetic. Float mode runs the float64
reference kernels (the framework's maths, for comparison).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from hepinfer.emulate import native
from hepinfer.emulate.fuse import dense_chains, run_chain
from hepinfer.emulate.native import current_engine, use_engine
from hepinfer.emulate.plan import plan_for
from hepinfer.emulate.threads import parallel_map
from hepinfer.fixed.array import FxArray, IntArray
from hepinfer.ir.graph import Graph
from hepinfer.ir.inputs import Inputs, bind_inputs
from hepinfer.ir.op import Op
from hepinfer.knobs import Engine, Mode
from hepinfer.ops import runtime, spec
from hepinfer.ops.base import need
from hepinfer.ops.runtime import DenseTypes

FloatArray = npt.NDArray[np.float64]


def emulate_float(graph: Graph, x: Inputs, trace: bool = False) -> dict[str, FloatArray]:
    """Float64 reference run; returns the graph outputs, or every node's output if `trace`."""
    values: dict[str, FloatArray] = {}
    inputs = bind_inputs(graph, x)
    with runtime.installed(_RUNTIME):  # the thread pool for kernels that split the batch
        for node in graph.nodes:
            if node.op is Op.INPUT:
                values[node.name] = inputs[node.name]
            else:
                values[node.name] = spec(node.op).run_float(node, [values[i] for i in node.inputs])
    keep = values if trace else {o: values[o] for o in graph.outputs}
    return dict(keep)


class EmulatorRuntime:
    """What the emulator lends the ops' kernels (`hepinfer.ops.runtime.Runtime`): its thread
    pool, and the native Dense kernel where the engine in effect allows it.
    """

    def map(self, fn: Callable[[int], None], items: Sequence[int]) -> None:
        """Spread the chunks over the emulator's thread pool."""
        parallel_map(fn, items)

    def dense(
        self, xm: IntArray, wm: IntArray, bias: IntArray, types: DenseTypes
    ) -> IntArray | None:
        """The native kernel's sums (None: numpy engine, or types it cannot hold exactly)."""
        return native.dense(xm, wm, bias, types)


_RUNTIME = EmulatorRuntime()


def emulate_fixed(
    graph: Graph, x: Inputs, trace: bool = False, engine: Engine | str | None = None
) -> dict[str, FxArray]:
    """Bit-exact run; returns outputs (or every node's output) as mantissas with types.

    `engine` (`hepinfer.knobs.Engine` or its spelling: 'auto', 'numpy', 'native'; see
    `hepinfer.emulate.native`); None keeps the one in effect (`$HEPINFER_ENGINE`, default
    'auto'). Every engine gives the same bits.
    """
    chosen = None if engine is None else Engine.parse(engine, "engine")
    with use_engine(chosen), runtime.installed(_RUNTIME):
        bound = None if trace else plan_for(graph)
        if bound is not None:
            return bound.run_fixed(x)
        return _emulate_fixed(graph, x, trace)


def _emulate_fixed(graph: Graph, x: Inputs, trace: bool) -> dict[str, FxArray]:
    values: dict[str, FxArray] = {}
    inputs = bind_inputs(graph, x)
    chains = {} if trace or current_engine() is Engine.NUMPY else dense_chains(graph)
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
            values[node.name] = FxArray.from_float(inputs[node.name], need(node, "result"))
        else:
            values[node.name] = kernel(node, [values[i] for i in node.inputs])
    keep = values if trace else {o: values[o] for o in graph.outputs}
    return dict(keep)


def emulate(
    graph: Graph,
    x: Inputs,
    trace: bool = False,
    mode: Mode | str = Mode.FIXED,
    engine: Engine | str | None = None,
) -> dict[str, FloatArray]:
    """Run the graph and return float64 arrays; `mode` (`hepinfer.knobs.Mode` or its
    spelling) is `fixed` (bit-exact) or `float`; `engine` picks the fixed-point kernels (see
    `emulate_fixed`). Spellings are checked at once (ConfigError naming the bad value).
    """
    chosen = None if engine is None else Engine.parse(engine, "engine")
    if Mode.parse(mode, "emulation mode") is Mode.FLOAT:
        return emulate_float(graph, x, trace)
    if not trace:
        with use_engine(chosen), runtime.installed(_RUNTIME):
            bound = plan_for(graph)
            if bound is not None:
                return bound.run(x)
    return {k: v.to_float() for k, v in emulate_fixed(graph, x, trace, chosen).items()}
