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
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """hls4ml's predict() of x (rows flattened) and, with `trace`, its per-layer outputs of
    the first 300 inputs by layer name.
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
    run_script(python, RUNNER, spec, work)
    traced = dict(np.load(work / "trace.npz")) if trace else {}
    return np.load(work / "y.npy"), traced
