"""HLS firmware: a Vitis HLS project per compiled model, and its C simulation.

`write_hls(graph, out_dir, ...)` renders the project from template files (`templates/`);
`csim(graph, x, ...)` compiles it with g++ (cached by content hash) and runs a whole batch
through a C ABI. Outputs equal the emulator's bit for bit.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import HlsError
from hepinfer.hls.csim import Prepared, build, prepare, run, run_prepared
from hepinfer.hls.writer import Project, render, write_test_vectors
from hepinfer.ir.graph import Graph
from hepinfer.ir.inputs import bind_inputs
from hepinfer.knobs import Headers

#: the C simulation of each graph, by io_type and headers: rendered, built and its weights
#: written once (a call is then one C call over the batch)
_PREPARED: weakref.WeakKeyDictionary[Graph, dict[tuple[str, Headers], Prepared]] = (
    weakref.WeakKeyDictionary()
)


def write_hls(
    graph: Graph,
    out_dir: str | Path,
    *,
    project: str = "myproject",
    io_type: str = "io_parallel",
    part: str = "xcu250-figd2104-2L-e",
    clock_period: float = 5.0,
    test_inputs: Any = None,
    test_outputs: Mapping[str, Any] | None = None,
) -> Path:
    """Write the Vitis HLS project of `graph` into `out_dir`.

    `test_inputs`: optional inputs (batch first) written with `test_outputs` (the emulator's
    outputs by output name, `hepinfer.emulate.emulate(graph, test_inputs)`) to `tb_data/`, so
    the testbench checks the firmware against the emulator.
    """
    proj = render(graph, project=project, io_type=io_type, part=part, clock_period=clock_period)
    root = proj.write(out_dir)
    if test_inputs is not None:
        if test_outputs is None:
            msg = (
                "write_hls got test_inputs without test_outputs; pass the emulator's outputs "
                "too (hepinfer.emulate.emulate(graph, test_inputs))"
            )
            raise HlsError(msg)
        bound = bind_inputs(graph, test_inputs)
        xs = [bound[n.name] for n in graph.inputs]
        ys = [np.asarray(test_outputs[o], dtype=np.float64) for o in graph.outputs]
        write_test_vectors(root, xs, ys)
    return root


def csim(
    graph: Graph,
    x: Any,
    *,
    io_type: str = "io_parallel",
    headers: Headers | str = Headers.AUTO,
) -> dict[str, np.ndarray]:
    """C simulation of `graph` on inputs `x` (as `emulate` takes them), by output name.

    `headers`: a `hepinfer.knobs.Headers` or its spelling ('auto', 'xilinx', 'hepinfer').
    """
    chosen = Headers.parse(headers, "headers")
    per_graph = _PREPARED.setdefault(graph, {})
    key = (io_type, chosen)
    if key not in per_graph:  # weight headers are for synthesis: C simulation reads .bin
        per_graph[key] = prepare(render(graph, io_type=io_type, weight_headers=False), chosen)
    bound = bind_inputs(graph, x)
    outs = run_prepared(per_graph[key], [bound[n.name] for n in graph.inputs])
    return dict(zip(graph.outputs, outs, strict=True))


__all__ = ["Headers", "Project", "build", "csim", "render", "run", "write_hls"]
