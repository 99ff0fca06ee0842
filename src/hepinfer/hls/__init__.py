"""HLS firmware: a Vitis HLS project per compiled model, and its C simulation.

`write_hls(graph, out_dir, ...)` renders the project from template files (`templates/`);
`csim(graph, x, ...)` compiles it with g++ (cached by content hash) and runs a whole batch
through a C ABI. Outputs equal the emulator's bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.hls.csim import Headers, build, run
from hepinfer.hls.writer import Project, render, write_test_vectors
from hepinfer.ir.graph import Graph


def write_hls(
    graph: Graph,
    out_dir: str | Path,
    *,
    project: str = "myproject",
    io_type: str = "io_parallel",
    part: str = "xcu250-figd2104-2L-e",
    clock_period: float = 5.0,
    test_inputs: Any = None,
) -> Path:
    """Write the Vitis HLS project of `graph` into `out_dir`.

    `test_inputs`: optional inputs (batch first) written with the emulator's outputs to
    `tb_data/` so the testbench checks the firmware against the emulator.
    """
    proj = render(graph, project=project, io_type=io_type, part=part, clock_period=clock_period)
    root = proj.write(out_dir)
    if test_inputs is not None:
        from hepinfer.emulate.run import _bind, emulate

        bound = _bind(graph, test_inputs)
        xs = [bound[n.name] for n in graph.inputs]
        out = emulate(graph, test_inputs)
        write_test_vectors(root, xs, [out[o] for o in graph.outputs])
    return root


def csim(
    graph: Graph,
    x: Any,
    *,
    io_type: str = "io_parallel",
    headers: Headers = "auto",
) -> dict[str, np.ndarray]:
    """C simulation of `graph` on inputs `x` (as `emulate` takes them), by output name."""
    from hepinfer.emulate.run import _bind

    proj = render(graph, io_type=io_type)
    bound = _bind(graph, x)
    outs = run(proj, [bound[n.name] for n in graph.inputs], headers)
    return dict(zip(graph.outputs, outs, strict=True))


__all__ = ["Headers", "Project", "build", "csim", "render", "run", "write_hls"]
