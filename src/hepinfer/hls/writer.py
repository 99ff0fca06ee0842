"""Write a complete Vitis HLS project for a compiled graph from the template files.

Layout of the project (`project` defaults to `myproject`, like hls4ml)::

    firmware/<project>.cpp, <project>.h    top function and (io_stream) its DATAFLOW processes:
                                            one per layer, clone and repack (see stream.py)
    firmware/defines.h, parameters.h        typedefs of every tensor/precision, layer configs
    firmware/hepinfer/*.h                   hepinfer's C++ kernel library
    firmware/weights/<name>.h, <name>.bin   weights and tables: headers (synthesis) and
                                            exact float64 files read at run time (C simulation)
    tb/<project>_test.cpp, tb_data/         C++ testbench and (optional) emulator test vectors
                                            (tb_data/ always, with a README; without vectors
                                            the testbench runs one all-zero sample)
    csim/bridge.cpp                         C ABI used by `CompiledModel.csim`
    build.tcl, build_opt.tcl                Vitis HLS (vitis_hls -f, or vitis-run --mode hls
                                            --tcl from 2024.2): csim, csynth, cosim, export IP
    hepinfer.json                           what was written (inputs, outputs, settings)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import numpy.typing as npt

from hepinfer._version import __version__
from hepinfer.errors import HlsError
from hepinfer.fixed import FixedType
from hepinfer.hls.layers import Model, build_model, c_type
from hepinfer.hls.stream import plan as stream_plan
from hepinfer.ir.graph import Graph

IO_TYPES = ("io_parallel", "io_stream")
KERNEL_FILES = (
    "hepinfer_common.h",
    "hepinfer_dense.h",
    "hepinfer_conv.h",
    "hepinfer_elementwise.h",
    "hepinfer_pooling.h",
    "hepinfer_merge.h",
    "hepinfer_activation.h",
    "hepinfer_softmax.h",
    "hepinfer_stream.h",
    "hepinfer_conv_stream.h",
    "hepinfer_pooling_stream.h",
    "hepinfer_recurrent.h",
    "hepinfer_weights.h",
    "hepinfer_activation_param.h",
    "hepinfer_merge_extra.h",
    "hepinfer_onnx.h",
    "hepinfer_resample.h",
    "hepinfer_embedding.h",
    "hepinfer_dot.h",
    "hepinfer_fast.h",
    "hepinfer_layernorm.h",
    "hepinfer_einsum_dense.h",
    "hepinfer_einsum.h",
    "hepinfer_garnet.h",
    "hepinfer_bit_exact_softmax.h",
    "hepinfer_conv_transpose.h",
)


def templates_dir() -> Path:
    """The packaged templates folder."""
    return Path(str(resources.files("hepinfer.hls") / "templates"))


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "project"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["ctype"] = c_type
    return env


@dataclass(frozen=True)
class Project:
    """The rendered project: text files and binary weight files by relative path."""

    model: Model
    text: Mapping[str, str]
    binary: Mapping[str, bytes]

    def write(self, out_dir: str | Path) -> Path:
        """Write every file under `out_dir` (created if needed)."""
        root = Path(out_dir)
        for rel, content in self.text.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        for rel, data in self.binary.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return root


def render(
    graph: Graph,
    *,
    project: str = "myproject",
    io_type: str = "io_parallel",
    part: str = "xcu250-figd2104-2L-e",
    clock_period: float = 5.0,
    clock_uncertainty: str = "27%",
    weight_headers: bool = True,
) -> Project:
    """Render the project for `graph` in memory (nothing written).

    `clock_uncertainty`: Vitis HLS's `set_clock_uncertainty` (hls4ml's Vitis default, 27%).
    `weight_headers=False` leaves out `firmware/weights/*.h` (the values as C literals, which
    synthesis needs and C simulation does not: it reads the `.bin` files).
    """
    if io_type not in IO_TYPES:
        msg = f"io_type {io_type!r} is not one of {IO_TYPES}"
        raise HlsError(msg)
    if not project.isidentifier():
        msg = f"project name {project!r} is not a C identifier; use letters, digits and _"
        raise HlsError(msg)
    model = build_model(graph, project)
    env = _env()
    ctx: dict[str, Any] = {
        "model": model,
        "plan": stream_plan(model) if io_type == "io_stream" else None,
        "io_type": io_type,
        "part": part,
        "clock_period": clock_period,
        "clock_uncertainty": clock_uncertainty,
        "version": __version__,
        "guard": project.upper(),
        "bool_consts": ("has_accum", "count_pad", "use_static", "reset_after", "backward"),
    }
    text: dict[str, str] = {
        f"firmware/{project}.cpp": env.get_template("project.cpp.j2").render(ctx),
        f"firmware/{project}.h": env.get_template("project.h.j2").render(ctx),
        "firmware/defines.h": env.get_template("defines.h.j2").render(ctx),
        "firmware/parameters.h": env.get_template("parameters.h.j2").render(ctx),
        f"tb/{project}_test.cpp": env.get_template("testbench.cpp.j2").render(ctx),
        "csim/bridge.cpp": env.get_template("bridge.cpp.j2").render(ctx),
        "build.tcl": env.get_template("build.tcl.j2").render(ctx),
        "build_opt.tcl": env.get_template("build_opt.tcl.j2").render(ctx),
        "tb_data/README.txt": env.get_template("tb_data_readme.j2").render(ctx),
    }
    weights_tpl = env.get_template("weights.h.j2")
    binary: dict[str, bytes] = {}
    for array in model.arrays:
        if weight_headers:
            text[f"firmware/weights/{array.name}.h"] = weights_tpl.render(ctx, array=array)
        binary[f"firmware/weights/{array.name}.bin"] = array.values.astype("<f8").tobytes()
    kernels = templates_dir() / "kernels"
    for name in KERNEL_FILES:
        text[f"firmware/hepinfer/{name}"] = (kernels / name).read_text()
    meta: dict[str, Any] = {
        "hepinfer": __version__,
        "project": project,
        "io_type": io_type,
        "part": part,
        "clock_period": clock_period,
        "inputs": [_tensor_meta(t.name, t.shape, t.fixed) for t in model.inputs],
        "outputs": [_tensor_meta(t.name, t.shape, t.fixed) for t in model.outputs],
    }
    plan = ctx["plan"]
    if plan is not None:  # io_stream ports: words per sample and values per word
        for key, ports in (("inputs", plan.inputs), ("outputs", plan.outputs)):
            entries: list[dict[str, Any]] = meta[key]
            for entry, port in zip(entries, ports, strict=True):
                entry |= {"stream": port.var, "words": port.words, "word": port.word}
    text["hepinfer.json"] = json.dumps(meta, indent=1) + "\n"
    return Project(model, text, binary)


def _tensor_meta(name: str, shape: tuple[int, ...], t: FixedType) -> dict[str, Any]:
    return {"name": name, "shape": list(shape), "type": str(t)}


def write_test_vectors(
    root: Path, x: list[npt.NDArray[np.float64]], y: list[npt.NDArray[np.float64]]
) -> None:
    """tb_data/: the inputs and the emulator's outputs, one sample per line (exact repr)."""
    tb = root / "tb_data"
    tb.mkdir(parents=True, exist_ok=True)
    for name, arrays in (("tb_input_features.dat", x), ("tb_output_predictions.dat", y)):
        flat = np.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1)
        lines = (" ".join(repr(float(v)) for v in row) for row in flat)
        (tb / name).write_text("\n".join(lines) + "\n")
