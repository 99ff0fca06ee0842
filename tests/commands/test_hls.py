"""`hepinfer hls`: from a compiled directory and from a model file, then the error path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer.cli import main
from tests.hls.onnx_models import mlp


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    return mlp(tmp_path / "m.onnx", (6, 8, 4), ("Relu", "Softmax"))


def test_hls_from_compiled_dir(
    onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = hepinfer.compile(onnx_model, {"Model": {"Precision": "ap_fixed<12,5>"}})
    model.save(tmp_path / "compiled")
    x = np.random.default_rng(0).normal(size=(20, 6))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "prj"
    args = ["hls", str(tmp_path / "compiled"), "-o", str(out), "--io-type", "io_stream"]
    args += ["--part", "xcvu13p-flga2577-2-e", "--clock-period", "3.3"]
    assert main([*args, "--test-inputs", str(tmp_path / "x.npy")]) == 0
    assert "vitis_hls -f build.tcl" in capsys.readouterr().out
    meta = json.loads((out / "hepinfer.json").read_text())
    assert meta["io_type"] == "io_stream"
    assert meta["part"] == "xcvu13p-flga2577-2-e"
    assert "set clock_period 3.3" in (out / "build.tcl").read_text()
    assert "#pragma HLS DATAFLOW" in (out / "firmware" / "myproject.cpp").read_text()
    expected = np.loadtxt(out / "tb_data" / "tb_output_predictions.dat")
    np.testing.assert_array_equal(expected, model.predict(x))


def test_hls_subprocess_from_model_file(onnx_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "prj"
    proc = subprocess.run(
        [sys.executable, "-m", "hepinfer", "hls", str(onnx_model), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "firmware" / "weights" / "w1.bin").is_file()
    assert "ARRAY_PARTITION" in (out / "firmware" / "myproject.cpp").read_text()


def test_hls_bad_project_name(onnx_model: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hepinfer",
            "hls",
            str(onnx_model),
            "-o",
            str(tmp_path / "p"),
            "--project",
            "1bad-name",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "C identifier" in proc.stderr
