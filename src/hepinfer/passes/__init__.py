"""Pure Graph -> Graph rewrites; `run_passes` verifies the graph after every pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hepinfer.ir.graph import Graph
from hepinfer.ir.verify import verify

Pass = Callable[[Graph], Graph]


def run_passes(graph: Graph, passes: Sequence[Pass]) -> Graph:
    """Apply `passes` in order, running the verifier after each one."""
    verify(graph)
    for p in passes:
        graph = verify(p(graph))
    return graph


__all__ = ["Pass", "run_passes"]
