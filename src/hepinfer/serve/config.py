"""Model configurations: ``config.pbtxt`` parsed with protobuf text_format into ``ModelConfig``.

A model folder without ``config.pbtxt`` gets its configuration auto-completed from the model
file (Triton's ``--strict-model-config=false``, its default), which onnxruntime, TorchScript,
TensorFlow, python-backend and hepinfer-compiled models support. With ``strict=True``
(``--strict-model-config=true`` / ``--disable-auto-complete-config``) nothing is completed: a
folder without ``config.pbtxt`` fails to load with Triton's message, and a configuration
that declares no inputs or outputs fails (python-backend models excepted, as in Triton).
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ProtocolError, ServeError, UnsafePathError
from hepinfer.serve.backends.base import Backend, backend_for_file, resolve_backend
from hepinfer.serve.devices import GpuBackend, default_instance_group, visible_gpus
from hepinfer.serve.paths import inside, relative_file

CONFIG_FILE = "config.pbtxt"

_DEFAULT_FILENAMES = {
    "tensorflow_savedmodel": "model.savedmodel",
    "tensorflow_graphdef": "model.graphdef",
}


def parse_config(text: str, source: str) -> mc.ModelConfig:
    """Parse config.pbtxt text; raises ServeError naming the file and the parser's message."""
    config = mc.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        msg = f"{source}: not a valid Triton model configuration: {exc}"
        raise ServeError(msg) from None
    return config


def parse_config_json(text: str, source: str) -> mc.ModelConfig:
    """Parse a configuration given as JSON (RepositoryModelLoad's ``config`` parameter).

    The JSON comes from a client: a bad one is a ProtocolError (INVALID_ARGUMENT / 400).
    """
    config = mc.ModelConfig()
    try:
        json_format.Parse(text, config)
    except json_format.ParseError as exc:
        msg = (
            f"{source}: not a valid Triton model configuration in JSON: {exc} (expected e.g. "
            '{"max_batch_size": 8, "input": [...]}, the JSON form of config.pbtxt)'
        )
        raise ProtocolError(msg) from None
    return config


def version_dirs(model_dir: Path) -> dict[int, Path]:
    """The numeric version folders of a model folder."""
    out: dict[int, Path] = {}
    for child in model_dir.iterdir():
        if child.is_dir() and child.name.isdigit():
            out[int(child.name)] = child
    return out


def model_filename(config: mc.ModelConfig, backend: Backend) -> str:
    """The model file/folder name inside a version folder."""
    if config.default_model_filename:
        return str(config.default_model_filename)
    return _DEFAULT_FILENAMES.get(config.platform, backend.default_filename)


def model_path(
    model_dir: Path, version_dir: Path, config: mc.ModelConfig, backend: Backend
) -> Path:
    """The model file of one version, checked to stay inside the model folder."""
    name = model_filename(config, backend)
    what = f"model {config.name!r}: default_model_filename"
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        msg = f"{what} {name!r} must be a plain file name inside the version folder"
        raise UnsafePathError(msg)
    return relative_file(model_dir, f"{version_dir.name}/{name}", what)


def missing_config_message(path: Path) -> str:
    """Triton 2.51's reason for a model folder without config.pbtxt in strict mode, and the fix."""
    return (
        f"failed to open text file for read {path}: No such file or directory (write a "
        "config.pbtxt, or serve with --strict-model-config=false to complete it from the "
        "model file)"
    )


def load_config(
    model_dir: Path, override: str | None = None, strict: bool = False
) -> tuple[mc.ModelConfig, str, Backend]:
    """Read (or auto-complete) and validate the configuration of the model in `model_dir`.

    `override`, a configuration in JSON, replaces ``config.pbtxt`` (Triton's load override).
    `strict` (Triton's ``--strict-model-config=true``): complete nothing from the model file.
    """
    path = model_dir / CONFIG_FILE
    if override is not None:
        config = parse_config_json(override, f"config override for model {model_dir.name!r}")
    elif path.is_file():
        text = inside(path, model_dir, CONFIG_FILE).read_text()
        config = parse_config(text, str(path))
    elif strict:
        raise ServeError(missing_config_message(path))
    else:
        config = mc.ModelConfig()
    if not config.name:
        config.name = model_dir.name
    elif config.name != model_dir.name:
        msg = (
            f"{path}: model name {config.name!r} differs from its folder {model_dir.name!r}; "
            "rename one so they match"
        )
        raise ServeError(msg)
    versions = version_dirs(model_dir)
    if config.platform or config.backend:
        name, backend = resolve_backend(config)
    else:
        found = [f for v in sorted(versions, reverse=True) for f in versions[v].iterdir()]
        match = next((m for m in map(backend_for_file, found) if m is not None), None)
        if match is None:
            msg = (
                f"{model_dir}: no platform/backend in the config and no model file with a "
                "known name (model.onnx, model.pt, model.graphdef, model.hepinfer) in its version folders"
            )
            raise ServeError(msg)
        name, backend = match
        config.platform = backend.platforms[0]
    if strict and (not config.input or not config.output) and name != "python":
        missing = " and ".join(
            kind for kind, t in (("input", config.input), ("output", config.output)) if not t
        )
        msg = (
            f"{path}: model {config.name!r} declares no {missing} tensors, and strict model "
            "configuration (--strict-model-config=true) does not complete them from the model "
            "file; list them in config.pbtxt or serve with --strict-model-config=false"
        )
        raise ServeError(msg)
    if (not config.input or not config.output) and not strict:
        latest = max(versions) if versions else None
        if latest is None:
            msg = f"{model_dir}: no numeric version folder (e.g. {model_dir}/1/)"
            raise ServeError(msg)
        backend.autocomplete(model_path(model_dir, versions[latest], config, backend), config)
    validate_config(config, str(path))
    default_instance_group(config, isinstance(backend, GpuBackend), visible_gpus())
    if not config.HasField("version_policy"):
        config.version_policy.latest.num_versions = 1
    return config, name, backend


def validate_config(config: mc.ModelConfig, source: str) -> None:
    """Check what the server relies on: tensors have types and dims, sizes are sane."""
    if config.max_batch_size < 0:
        msg = f"{source}: max_batch_size {config.max_batch_size} must be >= 0"
        raise ServeError(msg)
    for kind, tensors in (("input", config.input), ("output", config.output)):
        seen: set[str] = set()
        for t in tensors:
            if not t.name or t.name in seen:
                msg = f"{source}: {kind} names must be present and unique, got {t.name!r}"
                raise ServeError(msg)
            seen.add(t.name)
            if t.data_type == mc.TYPE_INVALID:
                msg = f"{source}: {kind} {t.name!r} needs a data_type (e.g. TYPE_FP32)"
                raise ServeError(msg)
            if any(d < -1 for d in t.dims):
                msg = f"{source}: {kind} {t.name!r} has dims {list(t.dims)}; use -1 for variable"
                raise ServeError(msg)
    db = config.dynamic_batching
    if config.HasField("dynamic_batching") and config.max_batch_size == 0:
        msg = f"{source}: dynamic_batching needs max_batch_size > 0"
        raise ServeError(msg)
    for size in db.preferred_batch_size:
        if not 0 < size <= config.max_batch_size:
            msg = (
                f"{source}: preferred_batch_size {size} must be in 1..max_batch_size "
                f"({config.max_batch_size})"
            )
            raise ServeError(msg)
    for group in config.instance_group:
        if group.count < 0:
            msg = f"{source}: instance_group count {group.count} must be >= 0"
            raise ServeError(msg)
