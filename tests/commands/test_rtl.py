"""`hepinfer rtl`: Verilog, the Verilator check against the emulator and Yosys' report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hepinfer.cli import main
from tests.hls.onnx_models import mlp
from tests.rtl.conftest import need


def test_rtl_check_and_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need("verilator")
    need("yosys")
    model = mlp(tmp_path / "m.onnx", (6, 8, 4), ("Relu", "Softmax"))
    out = tmp_path / "rtl"
    args = ["rtl", str(model), "-o", str(out), "--check", "300", "--synth", "--part", "xcvu13p"]
    assert main([*args, "--jobs", "2"]) == 0
    text = capsys.readouterr().out
    assert "0 of 1,200 outputs differ from the emulator" in text
    assert "Yosys synth_xilinx -family xcup" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["check"]["differing_outputs"] == 0
    assert manifest["check"]["latency_cycles"] == manifest["latency_cycles"]
    synth = manifest["synthesis"]
    assert synth["luts"] > 0
    assert synth["ffs"] > 0
    assert synth["longest_path_cells"] > 0
    assert synth["yosys_runs"] > 2  # the pieces (the design cut at its registers) and the top
    assert "cut at pipeline registers into" in text


def test_rtl_refuses_io_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = mlp(tmp_path / "m.onnx", (6, 8, 4), ("Relu", "Softmax"))
    config = tmp_path / "stream.yml"
    config.write_text("IOType: io_stream\n")
    assert main(["rtl", str(model), "-c", str(config), "-o", str(tmp_path / "rtl")]) != 0
    err = capsys.readouterr().err
    assert "io_stream" in err
    assert "write_hls" in err


@pytest.mark.parametrize("command", ["rtl", "estimate"])
@pytest.mark.parametrize(
    ("value", "says"), [("0", "give at least 1"), ("two", "give a whole number")]
)
def test_jobs_must_be_a_positive_integer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, value: str, says: str
) -> None:
    """A bad `--jobs` is a usage error (exit 2) before anything is compiled or written."""
    out = tmp_path / "rtl"
    args = [command, str(tmp_path / "absent.onnx"), "--synth", "--jobs", value]
    with pytest.raises(SystemExit) as exc:
        main([*args, "-o", str(out)])
    assert exc.value.code == 2
    assert says in capsys.readouterr().err
    assert not out.exists()
