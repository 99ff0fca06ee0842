"""`hepinfer convert config.yml`: an `hls4ml convert` YAML, taken as it is.

The YAML names the model (`KerasJson` + `KerasH5`, `KerasModel` (.keras / .h5),
`OnnxModel`, or `PytorchModel` with `InputShape`), the project (`OutputDir`, `ProjectName`,
`Part`, `ClockPeriod`, `IOType`, `Backend`) and the configuration (`HLSConfig`). Model paths
are looked up from the working directory, then next to the YAML (hls4ml reads them from the
working directory). Written into `OutputDir`: the Vitis HLS project, `estimate.txt` /
`estimate.json`, hepinfer's `config.yml` (with its `Semantics`), `types.txt` and the C
simulation library `csim/lib<ProjectName>.so` (a C ABI; `hepinfer csim` runs it on inputs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "convert a model from an `hls4ml convert` YAML: HLS project, estimate, C simulation"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="an `hls4ml convert` YAML (KerasJson, HLSConfig, ...)")
    parser.add_argument("-o", "--output", help="output directory (default: the YAML's OutputDir)")
    parser.add_argument(
        "--semantics",
        choices=["hepinfer", "hls4ml"],
        help="what a precision means (default: the YAML's Semantics key, else hls4ml's)",
    )


def _find(value: object, base: Path, key: str) -> Path:
    from hepinfer.errors import ConfigError

    for cand in (Path(str(value)), base / str(value)):
        if cand.exists():
            return cand
    msg = f"{key}: {value!r} not found in the working directory or next to the YAML ({base})"
    raise ConfigError(msg)


def model_source(data: dict[str, Any], base: Path) -> tuple[Any, list[int] | None]:
    """The model (a path, or a (json, h5) pair) and input shape an hls4ml YAML names."""
    from hepinfer.errors import ConfigError

    shape = data.get("InputShape")
    if shape is not None:  # hls4ml's InputShape includes the batch: [None, 3, 32, 32]
        dims = list(shape)
        shape = [int(d) for d in (dims[1:] if len(dims) > 1 or dims[0] is None else dims)]
    if "KerasJson" in data:
        json_path = _find(data["KerasJson"], base, "KerasJson")
        if "KerasH5" in data:
            return (json_path, _find(data["KerasH5"], base, "KerasH5")), None
        return json_path, None
    for key in ("KerasModel", "OnnxModel", "PytorchModel"):
        if key in data:
            return _find(data[key], base, key), shape
    msg = (
        "the YAML names no model: give KerasJson (+ KerasH5), KerasModel, OnnxModel or PytorchModel"
    )
    raise ConfigError(msg)


def run(args: argparse.Namespace) -> int:
    import shutil

    import yaml

    import hepinfer
    from hepinfer.commands.common import header, resolve_config
    from hepinfer.errors import ConfigError
    from hepinfer.hls import build, render

    path = Path(args.config)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise ConfigError(msg) from exc
    if not isinstance(data, dict):
        msg = f"{path} must be a mapping (an `hls4ml convert` YAML)"
        raise ConfigError(msg)
    source, shape = model_source(data, path.parent)
    config = resolve_config(str(path), args.semantics)
    model = hepinfer.compile(source, config, input_shape=shape)
    out = Path(args.output or data.get("OutputDir") or "my-hls-test")
    project = str(data.get("ProjectName", "myproject"))
    model.write_hls(out, project=project)
    est = model.estimate()
    text = header(model.config, model.graph, notes=True)
    (out / "types.txt").write_text(text)
    (out / "estimate.txt").write_text(text + "\n" + est.to_table() + "\n")
    est.to_json(out / "estimate.json")
    model.config.save(out / "config.yml")
    lib = build(render(model.graph, project=project, io_type=model.config.io_type.value))
    (out / "csim").mkdir(exist_ok=True)
    shutil.copyfile(lib, out / "csim" / f"lib{project}.so")
    sys.stdout.write(text + "\n" + est.to_table() + "\n")
    sys.stdout.write(
        f"wrote {out}: HLS project (vitis_hls -f build.tcl), estimate.txt, estimate.json, "
        f"config.yml, csim/lib{project}.so\n"
    )
    return 0
