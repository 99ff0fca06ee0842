"""The Verilog testbench written by `write_verilog` runs (Verilator `--binary --timing`),
passes on the emulator's vectors and fails when one expected value is corrupted.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer.rtl.design import RtlDesign
from tests.hls.onnx_models import mlp
from tests.rtl.conftest import need


def _run_testbench(folder: Path, design: RtlDesign) -> subprocess.CompletedProcess[str]:
    """Build the testbench and the design with Verilator and run it in `folder`."""
    tb = f"{design.top}_tb"
    build = subprocess.run(
        [
            "verilator",
            "--binary",
            "--timing",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            "--top-module",
            tb,
            "-Mdir",
            "obj",
            "-o",
            "tb",
            f"{tb}.v",
            f"{design.top}.v",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return subprocess.run(
        [str(folder / "obj" / "tb")], cwd=folder, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RtlDesign, np.ndarray]:
    """The small MLP's Verilog with 200 random vectors."""
    need("verilator")
    folder = tmp_path_factory.mktemp("tb")
    model = hepinfer.compile(mlp(folder / "m.onnx", (6, 8, 4), ("Relu", "Softmax"), seed=4))
    x = np.random.default_rng(5).normal(scale=2.0, size=(200, 6))
    design = model.write_verilog(folder / "rtl", x=x)
    expected = model.predict(x)
    assert isinstance(expected, np.ndarray)
    return folder / "rtl", design, expected


def test_testbench_passes_on_the_emulator_vectors(
    written: tuple[Path, RtlDesign, np.ndarray],
) -> None:
    folder, design, expected = written
    lines = (folder / "tb_expected.hex").read_text().split()
    assert len(lines) == len((folder / "tb_input.hex").read_text().split()) == len(expected)
    run = _run_testbench(folder, design)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"PASS: 200 samples; latency {design.latency} cycles" in run.stdout
    assert (folder / "tb_output.hex").read_text().split() == lines


def test_testbench_fails_on_a_corrupted_expected_value(
    written: tuple[Path, RtlDesign, np.ndarray], tmp_path: Path
) -> None:
    folder, design, _ = written
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in folder.iterdir():
        if f.is_file():
            (bad / f.name).write_bytes(f.read_bytes())
    lines = (bad / "tb_expected.hex").read_text().split()
    lines[137] = f"{int(lines[137], 16) ^ 1:0{len(lines[137])}x}"  # one bit of sample 137
    (bad / "tb_expected.hex").write_text("\n".join(lines) + "\n")
    run = _run_testbench(bad, design)
    assert run.returncode != 0
    assert "MISMATCH sample 137" in run.stdout
    assert "FAIL: 1 of 200 samples differ" in run.stdout
