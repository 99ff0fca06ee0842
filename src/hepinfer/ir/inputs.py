"""Binding user inputs (arrays, sequences or mappings) to a graph's input nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from hepinfer.errors import HepinferError
from hepinfer.ir.graph import Graph

FloatArray = npt.NDArray[np.float64]
Inputs = npt.ArrayLike | Sequence[npt.ArrayLike] | Mapping[str, npt.ArrayLike]


def bind_inputs(graph: Graph, x: Inputs) -> dict[str, FloatArray]:
    """The graph's inputs by name from `x` (one array, a sequence in input order, or a
    mapping by name), as float64 with a batch axis (HepinferError when they do not fit).
    """
    names = [n.name for n in graph.inputs]
    if isinstance(x, Mapping):
        missing = [n for n in names if n not in x]
        if missing:
            msg = f"inputs {missing} missing; the graph takes {names}"
            raise HepinferError(msg)
        arrays = {n: np.asarray(x[n], dtype=np.float64) for n in names}
    elif len(names) > 1:
        seq = list(x)  # type: ignore[arg-type]
        if len(seq) != len(names):
            msg = f"got {len(seq)} input arrays; the graph takes {len(names)}: {names}"
            raise HepinferError(msg)
        arrays = {n: np.asarray(a, dtype=np.float64) for n, a in zip(names, seq, strict=True)}
    else:
        arrays = {names[0]: np.asarray(x, dtype=np.float64)}
    for node in graph.inputs:
        a = arrays[node.name]
        if a.shape[1:] != node.out.shape:
            if a.ndim == len(node.out.shape) and a.shape == node.out.shape:
                a = a[None]
            else:
                msg = (
                    f"input {node.name!r} has shape {a.shape}; expected (batch, "
                    f"{', '.join(str(d) for d in node.out.shape)})"
                )
                raise HepinferError(msg)
        arrays[node.name] = a
    return arrays
