"""Bit-exact against hls4ml's C simulation (the external oracle), KERAS_3layer jet tagger.

hls4ml runs in its own virtual environment (`$HEPINFER_PEERS/hls4ml`) in a subprocess; the
test skips when it is absent. Softmax is made linear in the model given to both sides, so the
outputs compared are the last Dense layer's (before softmax), all 10,000 x 5 of them. The
per-layer configuration mixes widths, signedness and the quantisation/overflow modes RND,
RND_ZERO, RND_CONV, SAT, SAT_SYM. Whole models are also compared output for output: the
jet tagger with hls4ml's table-based softmax (`stable`), a sigmoid head, BatchNorm layers and a
Conv1D model.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from tests.conftest import peers_dir

RUNNER = Path(__file__).with_name("hls4ml_runner.py")

MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "input_1": {"Precision": {"result": "ap_fixed<14,5>"}},
        "fc1_relu": {
            "Precision": {
                "weight": "ap_fixed<8,2,AP_RND_ZERO,AP_SAT_SYM>",
                "bias": "ap_fixed<10,4>",
                "accum": "ap_fixed<22,9>",
                "result": "ap_fixed<16,7>",
            }
        },
        "fc1_relu_relu": {"Precision": {"result": "ap_ufixed<12,6>"}},
        "fc2_relu": {
            "Precision": {
                "weight": "ap_fixed<6,1>",
                "bias": "ap_fixed<8,3>",
                "accum": "ap_fixed<18,8,AP_RND,AP_SAT>",
                "result": "ap_fixed<13,6,AP_RND_CONV,AP_SAT>",
            }
        },
        "fc2_relu_relu": {"Precision": {"result": "ap_fixed<10,5>"}},
        "fc3_relu": {
            "Precision": {
                "weight": "ap_fixed<10,3>",
                "bias": "ap_fixed<10,3>",
                "accum": "ap_fixed<32,12>",
                "result": "ap_fixed<18,8>",
            }
        },
        "fc3_relu_relu": {"Precision": {"result": "ap_ufixed<9,5,AP_RND,AP_SAT>"}},
        "output_softmax": {
            "Precision": {
                "weight": "ap_fixed<12,3>",
                "bias": "ap_fixed<12,4>",
                "accum": "ap_fixed<24,10>",
                "result": "ap_fixed<18,8>",
            }
        },
    },
}

MODEL_LEVEL: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}
}


@pytest.fixture(scope="module")
def hls4ml_python() -> Path:
    python = peers_dir() / "hls4ml" / "bin" / "python"
    if not (peers_dir() / "READY-hls4ml").exists() or not python.exists():
        pytest.skip(f"hls4ml peer not installed under {peers_dir()} (set HEPINFER_PEERS)")
    return python


@pytest.fixture(scope="module")
def linear_head(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """KERAS_3layer with its softmax activation replaced by linear (JSON, weights)."""
    keras_dir = shared_data / "hls4ml-example-models" / "keras"
    arch = json.loads((keras_dir / "KERAS_3layer.json").read_text())
    for layer in arch["config"]["layers"]:
        if layer["config"].get("activation") == "softmax":
            layer["config"]["activation"] = "linear"
    path = tmp_path_factory.mktemp("model") / "KERAS_3layer_linear.json"
    path.write_text(json.dumps(arch))
    return path, keras_dir / "KERAS_3layer_weights.h5"


def run_hls4ml(
    python: Path,
    model: tuple[Path, Path],
    config: dict[str, Any] | str,
    x: np.ndarray,
    work: Path,
    io_type: str = "io_parallel",
) -> np.ndarray:
    np.save(work / "x.npy", x)
    spec = {
        "json": str(model[0]),
        "h5": str(model[1]),
        "hls_config": config,
        "x": str(work / "x.npy"),
        "y": str(work / "y.npy"),
        "out_dir": str(work / "prj"),
        "io_type": io_type,
    }
    run_script(python, RUNNER, spec, work)
    return np.load(work / "y.npy")


def run_script(python: Path, runner: Path, spec: dict[str, Any], work: Path) -> None:
    """Run an hls4ml runner script on `spec` with hls4ml's python (Keras on torch)."""
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run(
        [str(python), str(runner), str(work / "spec.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize(
    "config", [MODEL_LEVEL, MIXED], ids=["model-ap_fixed16_6", "per-layer-mixed"]
)
def test_bit_exact_against_hls4ml_csim(
    hls4ml_python: Path, linear_head: tuple[Path, Path], config: dict[str, Any], tmp_path: Path
) -> None:
    x = np.random.default_rng(2024).standard_normal((10_000, 16))
    expected = run_hls4ml(hls4ml_python, linear_head, config, x, tmp_path)
    ours = hepinfer.compile(linear_head, config).predict(x)
    assert isinstance(ours, np.ndarray)
    assert ours.shape == expected.shape == (10_000, 5)
    differing = int(np.count_nonzero(ours != expected))
    assert differing == 0, f"{differing} of {ours.size} outputs differ from hls4ml's C simulation"
    # the comparison is not vacuous: outputs vary and the quantisation is visible
    assert np.unique(ours).size > 1000
    assert np.any(ours != hepinfer.compile(linear_head, config).predict(x, mode="float"))


WHOLE_MODELS = [
    ("KERAS_3layer", (16,), 10_000),  # Dense + ReLU + stable softmax tables
    ("KERAS_1layer", (10,), 3_000),  # sigmoid table (inputs x 2 to cover its range)
    ("KERAS_3layer_batch_norm", (16,), 3_000),  # standalone BatchNorm layers (not folded)
    ("KERAS_conv1d_small", (10, 4), 3_000),  # Conv1D 'same' padding + Flatten + Dense
]


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize(("name", "shape", "n"), WHOLE_MODELS, ids=[m[0] for m in WHOLE_MODELS])
def test_whole_models_bit_exact_against_hls4ml_csim(
    hls4ml_python: Path,
    shared_data: Path,
    tmp_path: Path,
    name: str,
    shape: tuple[int, ...],
    n: int,
) -> None:
    keras_dir = shared_data / "hls4ml-example-models" / "keras"
    model = (keras_dir / f"{name}.json", keras_dir / f"{name}_weights.h5")
    x = np.random.default_rng(7).standard_normal((n, *shape)) * (
        2.0 if name == "KERAS_1layer" else 1.0
    )
    expected = run_hls4ml(hls4ml_python, model, MODEL_LEVEL, x, tmp_path)
    ours = hepinfer.compile(model, MODEL_LEVEL).predict(x)
    assert isinstance(ours, np.ndarray)
    ours = ours.reshape(n, -1)
    assert ours.shape == expected.shape
    assert int(np.count_nonzero(ours != expected)) == 0
    assert np.unique(ours).size > 50


@pytest.mark.oracle
@pytest.mark.slow
def test_auto_types_hls4ml_flattens_the_softmax_hepinfer_does_not(
    hls4ml_python: Path, shared_data: Path, tmp_path: Path
) -> None:
    """hls4ml's config_from_keras_model(granularity='name') ('auto' types) gives 0.2002 for
    every class; hepinfer's config_from_model(granularity='name') keeps the output informative.
    """
    keras_dir = shared_data / "hls4ml-example-models" / "keras"
    model = (keras_dir / "KERAS_3layer.json", keras_dir / "KERAS_3layer_weights.h5")
    x = np.random.default_rng(8).standard_normal((2000, 16))
    theirs = run_hls4ml(hls4ml_python, model, "granularity=name", x, tmp_path)
    assert np.unique(theirs, axis=0).shape[0] == 1  # constant output
    ours_model = hepinfer.compile(model, hepinfer.config_from_model(model, granularity="name"))
    ours = ours_model.predict(x)
    assert isinstance(ours, np.ndarray)
    assert np.unique(ours, axis=0).shape[0] > 1000
    reference = ours_model.predict(x, mode="float")
    assert isinstance(reference, np.ndarray)
    assert (ours.argmax(1) == reference.argmax(1)).mean() >= 0.99
