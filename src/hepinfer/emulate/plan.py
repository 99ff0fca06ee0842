"""A compiled plan per graph: what a fixed-point run decides, decided once.

`plan_for(graph)` binds, at the first call and once per graph, everything the interpreter
(`hepinfer.emulate.run`) would re-decide per call: which nodes run natively, grouped into
native programs (`hepinfer.emulate.program`: linear runs of nodes with native steps, their
weights, tables and types bound in C++), and which run through their op's numpy kernel. When
the whole graph is one program (one input, one output, every node native; e.g. the jet
taggers), a call is one native call from the float64 inputs to the float64 outputs.

The plan gives the bits of the node-by-node numpy run (tested); it is used for every
non-traced run with the `auto` or `native` engine where the native kernel is available.
`Plan.fallbacks` names the nodes that run through numpy (also logged at DEBUG level when the
plan is bound); `CompiledModel.plan_fallbacks()` asks it of a compiled model.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.emulate import native
from hepinfer.emulate.program import Program, Step, step
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir.graph import Graph, Node
from hepinfer.ir.inputs import Inputs, bind_inputs
from hepinfer.ir.op import Op
from hepinfer.knobs import Engine
from hepinfer.ops import spec
from hepinfer.ops.base import need

FloatArray = npt.NDArray[np.float64]

log = logging.getLogger(__name__)

_PLANS: weakref.WeakKeyDictionary[Graph, Plan] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Segment:
    """A native program and the nodes it computes (the last one's output is kept)."""

    source: str  # the input node (from_float) or the tensor the first node reads
    nodes: tuple[Node, ...]
    program: Program
    t_in: FixedType
    steps: tuple[Step, ...]


@dataclass
class _Run:
    source: str
    from_float: bool
    t_in: FixedType
    n_in: int
    nodes: list[Node]
    steps: list[Step]
    t: FixedType


def _float_input_ok(t: FixedType) -> bool:
    return t.width <= 53 and not t.sat_bits


class Plan:
    """The bound run of one graph (see the module docstring)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.items: list[Node | Segment] = []
        self._outputs = graph.outputs
        readers = Counter(i for n in graph.nodes for i in n.inputs)
        outputs = set(graph.outputs)
        run: _Run | None = None
        for node in graph.nodes:
            if run is not None and self._extend(run, node, readers, outputs):
                continue
            if run is not None:
                self._flush(run)
            run = self._start(node)
            if run is None:
                self.items.append(node)
        if run is not None:
            self._flush(run)
        self.single = self._single()
        if self.fallbacks:
            names = ", ".join(f"{n.name} ({n.op.value})" for n in self.fallbacks)
            log.debug("plan of graph %r: nodes run in numpy: %s", graph.name, names)

    @property
    def fallbacks(self) -> tuple[Node, ...]:
        """The nodes that run through their op's numpy kernel, not a native program (none:
        every node is in a native program; a graph input whose type the native cast cannot
        take is listed as its INPUT node).
        """
        return tuple(item for item in self.items if isinstance(item, Node))

    def _start(self, node: Node) -> _Run | None:
        if node.op is Op.INPUT:
            t = need(node, "result")
            if not _float_input_ok(t):
                return None
            n = int(np.prod(node.out.shape))
            return _Run(node.name, True, t, n, [node], [], t)
        if len(node.inputs) != 1 or node.op is Op.FLATTEN:
            return None
        source = self.graph.node(node.inputs[0])
        t_in = source.out.fixed
        if t_in is None or t_in.width > 62:
            return None
        first = step(node, t_in, None, source.out.shape)
        if first is None:
            return None
        n = int(np.prod(source.out.shape))
        return _Run(source.name, False, t_in, n, [node], [first], first.t)

    @staticmethod
    def _extend(run: _Run, node: Node, readers: Counter[str], outputs: set[str]) -> bool:
        last = run.nodes[-1]
        if node.inputs != (last.name,) or readers[last.name] != 1 or last.name in outputs:
            return False
        if node.op is Op.FLATTEN:
            run.nodes.append(node)
            return True
        st = step(node, run.t, run.steps[-1] if run.steps else None, last.out.shape)
        if st is None:
            return False
        if st.fused:
            run.steps[-1] = st  # the cast fused into the Dense / Conv step before it
        else:
            run.steps.append(st)
        run.nodes.append(node)
        run.t = st.t
        return True

    def _flush(self, run: _Run) -> None:
        if not run.steps and not run.from_float:
            self.items.extend(run.nodes)
            return
        program = Program(run.steps, run.n_in, run.t_in, from_float=run.from_float, to_float=False)
        self.items.append(
            Segment(run.source, tuple(run.nodes), program, run.t_in, tuple(run.steps))
        )

    def _single(self) -> tuple[Segment, Program] | None:
        """The whole graph as one program from floats to floats, if it is one."""
        if len(self.items) != 1 or len(self._outputs) != 1:
            return None
        seg = self.items[0]
        if not isinstance(seg, Segment) or not seg.program.from_float:
            return None
        if seg.nodes[-1].name != self._outputs[0]:
            return None
        program = Program(seg.steps, seg.program.n_in, seg.t_in, from_float=True, to_float=True)
        return seg, program

    # ------------------------------------------------------------------------ running
    def run_fixed(self, x: Inputs) -> dict[str, FxArray]:
        """The graph outputs as mantissas with their types."""
        inputs = bind_inputs(self.graph, x)
        values: dict[str, FxArray] = {}
        for item in self.items:
            if isinstance(item, Segment):
                values[item.nodes[-1].name] = self._segment(item, inputs, values)
            elif item.op is Op.INPUT:
                values[item.name] = FxArray.from_float(inputs[item.name], need(item, "result"))
            else:
                args = [values[i] for i in item.inputs]
                values[item.name] = spec(item.op).run_fixed(item, args)
        return {o: values[o] for o in self._outputs}

    def _segment(
        self, seg: Segment, inputs: dict[str, FloatArray], values: dict[str, FxArray]
    ) -> FxArray:
        last = seg.nodes[-1]
        if seg.program.from_float:
            x: Any = inputs[seg.source]
            batch = x.shape[0]
            y = seg.program.run(np.ascontiguousarray(x.reshape(batch, -1)))
        else:
            v = values[seg.source]
            if v.t != seg.t_in:  # not the type the program was bound to: node by node
                return self._nodes(seg.nodes, v)
            batch = v.m.shape[0]
            y = seg.program.run(np.ascontiguousarray(v.m.reshape(batch, -1), dtype=np.int64))
        return FxArray(y.reshape(batch, *last.out.shape), seg.program.t_out)

    @staticmethod
    def _nodes(nodes: tuple[Node, ...], x: FxArray) -> FxArray:
        for node in nodes:
            x = spec(node.op).run_fixed(node, [x])
        return x

    def run(self, x: Inputs) -> dict[str, FloatArray]:
        """The graph outputs as float64."""
        if self.single is not None:
            seg, program = self.single
            if (
                type(x) is np.ndarray
                and x.dtype == np.float64
                and x.ndim == 2
                and x.shape[1] == program.n_in
                and x.flags.c_contiguous
                and len(seg.nodes[0].out.shape) == 1
            ):
                arr = x
            else:
                arr = bind_inputs(self.graph, x)[seg.source]
                arr = np.ascontiguousarray(arr.reshape(arr.shape[0], -1))
            y = program.run(arr)
            return {self._outputs[0]: y.reshape(y.shape[0], *seg.nodes[-1].out.shape)}
        return {k: v.to_float() for k, v in self.run_fixed(x).items()}


def plan_for(graph: Graph) -> Plan | None:
    """The graph's plan (built at the first call, then kept with the graph), or None when
    the engine in effect is `numpy` or the native kernel is unavailable (`auto`; `native`
    raises NativeError naming the reason).
    """
    if native.current_engine() is Engine.NUMPY:
        return None
    found = _PLANS.get(graph)
    if found is not None:
        return found
    if native.require() is None:
        return None
    with _LOCK:
        found = _PLANS.get(graph)
        if found is None:
            found = _PLANS[graph] = Plan(graph)
    return found


def predict(graph: Graph, x: Inputs) -> dict[str, FloatArray]:
    """`hepinfer.emulate.run.emulate(graph, x)` (fixed point, engine in effect) through the
    graph's plan, with the least work per call where the plan is one native program.
    """
    bound = _PLANS.get(graph)
    single = bound is not None and bound.single is not None
    if single and native.current_engine() is not Engine.NUMPY:
        return bound.run(x)  # type: ignore[union-attr]
    from hepinfer.emulate.run import emulate

    return emulate(graph, x)
