"""Keras 3 layer-list models compared with hls4ml 1.3's C simulation (the external oracle).

`oracle(...)` runs `tests/emulate/hls4ml_layer_runner.py` in the hls4ml peer's python on a
layer list; `keras_file(...)` builds the same model (same weights) in this environment's Keras
and saves it as a `.keras` file for hepinfer. Layers are `{"class", "config", "weights"}` with
weights as numpy arrays (written to .npy files here) and optional "inputs" (names of earlier
layers, "x_in" for the model input) for merges.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import peers_dir
from tests.emulate.test_hls4ml_oracle import run_script

RUNNER = Path(__file__).parents[1] / "emulate" / "hls4ml_layer_runner.py"
MODEL_LEVEL: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}
}


def hls4ml_python() -> Path:
    """The hls4ml peer's python; skips the test when the peer is absent."""
    python = peers_dir() / "hls4ml" / "bin" / "python"
    if not (peers_dir() / "READY-hls4ml").exists() or not python.exists():
        pytest.skip(f"hls4ml peer not installed under {peers_dir()} (set HEPINFER_PEERS)")
    return python


def import_keras() -> Any:
    """Keras 3 on torch (unless KERAS_BACKEND says otherwise); skips when absent."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def keras_file(
    input_shape: tuple[int, ...], layers: list[dict[str, Any]], path: Path, name: str = "x_in"
) -> Path:
    """The layer list as a Keras 3 functional model with its weights, saved to `path`."""
    keras = import_keras()
    inputs = keras.Input(input_shape, name=name)
    h = inputs
    built = []
    outputs = {name: inputs}  # by layer name, for entries with "inputs" (merges)
    for entry in layers:
        layer = getattr(keras.layers, entry["class"])(**entry["config"])
        srcs = [outputs[n] for n in entry.get("inputs", [])]
        h = layer(h if not srcs else srcs[0] if len(srcs) == 1 else srcs)
        outputs[layer.name] = h
        built.append((layer, entry.get("weights", [])))
    model = keras.Model(inputs, h)
    for layer, weights in built:
        if len(weights):
            layer.set_weights([np.asarray(w, np.float32) for w in weights])
    model.save(path)
    return path


def oracle(
    input_shape: tuple[int, ...],
    layers: list[dict[str, Any]],
    x: np.ndarray,
    work: Path,
    config: dict[str, Any] | None = None,
    io_type: str = "io_parallel",
    trace: bool = False,
    timing: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """hls4ml's predict() of x (rows flattened) and, with `trace`, its per-layer outputs of
    the first 300 inputs by layer name; with `timing`, the seconds of that predict() in
    `work/timing.json` (`predict_s`).
    """
    python = hls4ml_python()
    work.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, entry in enumerate(layers):
        files = []
        for j, w in enumerate(entry.get("weights", [])):
            np.save(work / f"w{i}_{j}.npy", np.asarray(w, np.float32))
            files.append(str(work / f"w{i}_{j}.npy"))
        entries.append({**entry, "weights": files})
    np.save(work / "x.npy", x)
    spec: dict[str, Any] = {
        "input_shape": list(input_shape),
        "layers": entries,
        "hls_config": config or MODEL_LEVEL,
        "x": str(work / "x.npy"),
        "y": str(work / "y.npy"),
        "out_dir": str(work / "prj"),
        "io_type": io_type,
    }
    if trace:
        spec["trace"] = str(work / "trace.npz")
    if timing:
        spec["timing"] = str(work / "timing.json")
    run_script(python, RUNNER, spec, work)
    traced = dict(np.load(work / "trace.npz")) if trace else {}
    return np.load(work / "y.npy"), traced


JSON_RUNNER = Path(__file__).parents[1] / "emulate" / "hls4ml_json_runner.py"
#: the weight names of Keras 2's HDF5 files, by layer class (in Keras' weight order)
KERAS2_WEIGHTS = {
    "Dense": ("kernel", "bias"),
    "Conv1D": ("kernel", "bias"),
    "Conv2D": ("kernel", "bias"),
    "DepthwiseConv1D": ("depthwise_kernel", "bias"),
    "DepthwiseConv2D": ("depthwise_kernel", "bias"),
    "SeparableConv1D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "SeparableConv2D": ("depthwise_kernel", "pointwise_kernel", "bias"),
    "Embedding": ("embeddings",),
    "LayerNormalization": ("gamma", "beta"),
}


def _keras2_config(entry: dict[str, Any]) -> dict[str, Any]:
    """A layer entry's config as Keras 2 writes it (lists, every default spelt out)."""
    cfg = {"dtype": "float32", "trainable": True, **entry["config"]}
    weights = entry.get("weights", [])
    if entry["class"] in KERAS2_WEIGHTS and entry["class"] != "Embedding":
        cfg.setdefault("activation", "linear")
        cfg.setdefault("use_bias", True)
    if entry["class"] in KERAS2_WEIGHTS and entry["class"] not in ("Dense", "Embedding"):
        rank = np.ndim(weights[0]) - 2
        for key, default in (("kernel_size", 1), ("strides", 1), ("dilation_rate", 1)):
            value = cfg.get(key, default)
            cfg[key] = [int(value)] * rank if isinstance(value, int) else [int(v) for v in value]
        cfg.setdefault("padding", "valid")
        cfg.setdefault("data_format", "channels_last")
        if "Depthwise" in entry["class"] or "Separable" in entry["class"]:
            cfg.setdefault("depth_multiplier", 1)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


def keras2_files(
    input_shape: tuple[int, ...], layers: list[dict[str, Any]], folder: Path
) -> tuple[Path, Path]:
    """The layer list (no merges) as a Keras 2 Sequential: architecture JSON (`model.json`)
    and HDF5 weights in Keras 2's layout (`model_weights.h5`, read with h5py).
    """
    import json

    h5py = pytest.importorskip("h5py")
    folder.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = [
        {
            "class_name": "InputLayer",
            "config": {
                "batch_input_shape": [None, *input_shape],
                "dtype": "float32",
                "name": "x_in",
            },
        }
    ]
    entries += [{"class_name": e["class"], "config": _keras2_config(e)} for e in layers]
    arch = {"class_name": "Sequential", "config": {"name": "model", "layers": entries}}
    json_path, h5_path = folder / "model.json", folder / "model_weights.h5"
    json_path.write_text(json.dumps({**arch, "keras_version": "2.15.0", "backend": "tensorflow"}))
    with h5py.File(h5_path, "w") as f:
        f.attrs["layer_names"] = [e["config"]["name"].encode() for e in layers]
        for entry in layers:
            name = entry["config"]["name"]
            group = f.create_group(name)
            names = [f"{name}/{w}:0" for w in KERAS2_WEIGHTS.get(entry["class"], ())]
            names = names[: len(entry.get("weights", []))]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n, w in zip(names, entry.get("weights", []), strict=True):
                group.create_dataset(n, data=np.asarray(w, np.float32))
    return json_path, h5_path


def oracle_json(
    files: tuple[Path, Path],
    x: np.ndarray,
    work: Path,
    config: dict[str, Any] | None = None,
    io_type: str = "io_parallel",
    trace: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """hls4ml's predict() of x through its Keras 2 JSON + HDF5 path, as `oracle`."""
    python = hls4ml_python()
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "x.npy", x)
    spec: dict[str, Any] = {
        "json": str(files[0]),
        "h5": str(files[1]),
        "hls_config": config or MODEL_LEVEL,
        "x": str(work / "x.npy"),
        "y": str(work / "y.npy"),
        "out_dir": str(work / "prj"),
        "io_type": io_type,
    }
    if trace:
        spec["trace"] = str(work / "trace.npz")
    run_script(python, JSON_RUNNER, spec, work)
    traced = dict(np.load(work / "trace.npz")) if trace else {}
    return np.load(work / "y.npy"), traced
