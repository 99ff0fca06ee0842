"""hepinfer's io_stream firmware against hls4ml's io_stream firmware (C simulation of both).

hls4ml 1.3.0 runs in its own virtual environment (`$HEPINFER_PEERS/hls4ml`) in a subprocess
(tests/emulate/hls4ml_runner.py); the test skips when it is absent. Both sides compile the
shared Conv1D example (Conv1D 'same', ReLU, Flatten, Dense, softmax) in io_stream: hls4ml with
its line-buffer `conv_1d_cl` stream kernel and a ZeroPadding1D process, hepinfer with its
own; every output of 3,000 samples must agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hepinfer
from tests.conftest import peers_dir
from tests.emulate.test_hls4ml_oracle import MODEL_LEVEL, run_hls4ml


@pytest.fixture
def hls4ml_python() -> Path:
    python = peers_dir() / "hls4ml" / "bin" / "python"
    if not (peers_dir() / "READY-hls4ml").exists() or not python.exists():
        pytest.skip(f"hls4ml peer not installed under {peers_dir()} (set HEPINFER_PEERS)")
    return python


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))


@pytest.mark.oracle
@pytest.mark.slow
def test_conv1d_io_stream_equals_hls4ml_io_stream(
    hls4ml_python: Path, shared_data: Path, tmp_path: Path
) -> None:
    keras_dir = shared_data / "hls4ml-example-models" / "keras"
    model = (keras_dir / "KERAS_conv1d_small.json", keras_dir / "KERAS_conv1d_small_weights.h5")
    x = np.random.default_rng(13).standard_normal((3_000, 10, 4))
    theirs = run_hls4ml(hls4ml_python, model, MODEL_LEVEL, x, tmp_path, io_type="io_stream")
    assert "hls::stream" in (tmp_path / "prj" / "firmware" / "oracle.cpp").read_text()
    compiled = hepinfer.compile(model, MODEL_LEVEL)
    ours = compiled.csim(x, io_type="io_stream", headers="xilinx")
    assert isinstance(ours, np.ndarray)
    ours = ours.reshape(len(x), -1)
    assert ours.shape == theirs.shape
    assert int(np.count_nonzero(ours != theirs)) == 0
    assert np.unique(ours).size > 50
