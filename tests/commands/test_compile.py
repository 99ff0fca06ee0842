"""`hepinfer compile` and `hepinfer emulate` end to end (in process and as a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer.cli import main


@pytest.fixture
def tagger(shared_data: Path) -> Path:
    return shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json"


def test_compile_then_emulate(
    tagger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yml"
    config.write_text(
        "Model:\n  Precision: ap_fixed<18,8>\nLayerName:\n  fc1_relu:\n    Precision: {weight: 'ap_fixed<8,3>'}\n"
    )
    x = np.random.default_rng(0).standard_normal((300, 16))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    assert (
        main(
            [
                "compile",
                str(tagger),
                "-c",
                str(config),
                "-o",
                str(out),
                "--profile",
                str(tmp_path / "x.npy"),
            ]
        )
        == 0
    )
    assert {
        "graph.json",
        "weights.npz",
        "config.yml",
        "graph.txt",
        "profile.txt",
        "profile.png",
    } <= {p.name for p in out.iterdir()}
    assert (
        "OVERFLOW" in (out / "profile.txt").read_text() or "ok" in (out / "profile.txt").read_text()
    )
    assert (out / "profile.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        main(
            [
                "emulate",
                str(out),
                "-i",
                str(tmp_path / "x.npy"),
                "-o",
                str(tmp_path / "y.npy"),
                "--trace",
                str(tmp_path / "t.npz"),
            ]
        )
        == 0
    )
    y = np.load(tmp_path / "y.npy")
    expected = hepinfer.compile(tagger, config).predict(x)
    np.testing.assert_array_equal(y, expected)
    with np.load(tmp_path / "t.npz") as trace:
        assert "fc1_relu_relu" in trace.files
    assert "300 samples" in capsys.readouterr().out
    y2 = tmp_path / "y2.npy"
    args = ["emulate", str(out), "-i", str(tmp_path / "x.npy"), "-o", str(y2), "--engine", "numpy"]
    assert main(args) == 0
    np.testing.assert_array_equal(np.load(y2), expected)  # every engine gives the same bits


def test_granularity_writes_auto_config(tagger: Path, tmp_path: Path) -> None:
    assert main(["compile", str(tagger), "--granularity", "name", "-o", str(tmp_path / "o")]) == 0
    text = (tmp_path / "o" / "config.yml").read_text()
    assert "fc1_relu:" in text
    assert "accum: auto" in text
    assert "Auto: hepinfer" in text  # its autos are hepinfer's rule when read back


def test_errors_exit_1_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["emulate", str(tmp_path), "-i", "x.npy", "-o", "y.npy"]) == 1
    assert "not a saved hepinfer model" in capsys.readouterr().err


def test_console_script(tagger: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hepinfer", "compile", str(tagger), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "graph.json").is_file()
