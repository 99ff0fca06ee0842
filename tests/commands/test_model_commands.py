"""Model-loading commands: --input-shape, --semantics (always printed), csim, convert, and the
global -v/-q flags after the subcommand.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

import hepinfer
from hepinfer.cli import build_parser, log_level, main
from tests.hls.onnx_models import mlp


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    return mlp(tmp_path / "m.onnx", (6, 8, 4), ("Relu", "Softmax"))


@pytest.fixture
def torch_cnn(tmp_path: Path) -> Path:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    path = tmp_path / "cnn.pt"
    torch.save(model.eval(), path)
    return path


def test_input_shape_compiles_a_pytorch_cnn(
    torch_cnn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "compiled"
    assert main(["compile", str(torch_cnn), "--input-shape", "3,8,8", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "semantics: hepinfer" in text
    assert "Conv2D" in text
    model = hepinfer.load(out)
    assert model.graph.inputs[0].out.shape == (3, 8, 8)
    assert main(["estimate", str(torch_cnn), "--input-shape", "3x8x8", "--json"]) == 0
    assert '"semantics": "hepinfer"' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["compile", str(torch_cnn), "--input-shape", "3,a", "-o", str(out)])


def test_semantics_is_printed_and_chooses_the_meaning(
    onnx_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same --precision: hepinfer's meaning (rounded, saturating results) by default,
    hls4ml's with --semantics hls4ml; each table says which, with the resulting types.
    """
    assert main(["estimate", str(onnx_model), "--precision", "ap_fixed<8,3>"]) == 0
    ours = capsys.readouterr().out
    assert ours.startswith("semantics: hepinfer")
    assert "ap_fixed<8,3,AP_RND,AP_SAT>" in ours
    args = ["estimate", str(onnx_model), "--precision", "ap_fixed<8,3>", "--semantics", "hls4ml"]
    assert main(args) == 0
    theirs = capsys.readouterr().out
    assert theirs.startswith("semantics: hls4ml")
    assert "ap_fixed<8,3,AP_RND,AP_SAT>" not in theirs
    assert "ap_fixed<8,3>" in theirs


def test_semantics_flag_overrides_the_yaml(onnx_model: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yml"
    cfg.write_text("Model:\n  Precision: ap_fixed<10,4>\n")
    assert main(["compile", str(onnx_model), "-c", str(cfg), "-o", str(tmp_path / "a")]) == 0
    saved = yaml.safe_load((tmp_path / "a" / "config.yml").read_text())
    assert saved["Semantics"] == "hls4ml"
    assert saved["Model"]["Precision"] == {"default": "ap_fixed<10,4>"}
    args = ["compile", str(onnx_model), "-c", str(cfg), "-o", str(tmp_path / "b")]
    assert main([*args, "--semantics", "hepinfer"]) == 0
    saved = yaml.safe_load((tmp_path / "b" / "config.yml").read_text())
    assert saved["Semantics"] == "hepinfer"
    assert saved["Model"]["Precision"]["result"] == "ap_fixed<10,4,AP_RND,AP_SAT>"
    assert "semantics: hepinfer" in (tmp_path / "b" / "types.txt").read_text()


def test_csim_command_equals_the_emulator(
    onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = np.random.default_rng(1).normal(size=(50, 6))
    np.save(tmp_path / "x.npy", x)
    args = ["csim", str(onnx_model), "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")]
    assert main([*args, "--compare", "--semantics", "hls4ml"]) == 0
    out = capsys.readouterr().out
    assert "0 of 200 outputs differ from the emulator" in out
    assert "semantics: hls4ml" in out
    y = np.load(tmp_path / "y.npy")
    expected = hepinfer.compile(onnx_model, hepinfer.Config.hls4ml()).predict(x)
    np.testing.assert_array_equal(y, expected)


def test_convert_takes_an_hls4ml_yaml(
    onnx_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "hls4ml.yml"
    cfg.write_text(
        f"OnnxModel: {onnx_model.name}\n"  # relative: found next to the YAML
        f"OutputDir: {tmp_path / 'prj'}\n"
        "ProjectName: jets\n"
        "Part: xcvu9p-flga2104-2L-e\n"
        "ClockPeriod: 4\n"
        "IOType: io_parallel\n"
        "Backend: Vitis\n"
        "HLSConfig:\n"
        "  Model:\n"
        "    Precision: ap_fixed<12,5>\n"
        "    ReuseFactor: 1\n"
        "    Strategy: Latency\n"
        "    BramFactor: 1000000000\n"
        "    TraceOutput: false\n"
    )
    assert main(["convert", str(cfg)]) == 0
    out = capsys.readouterr().out
    prj = tmp_path / "prj"
    assert "semantics: hls4ml" in out
    assert "note: Model.BramFactor" in out
    assert (prj / "firmware" / "jets.cpp").is_file()
    assert "xcvu9p" in (prj / "build.tcl").read_text()
    assert "semantics: hls4ml" in (prj / "estimate.txt").read_text()
    assert (prj / "estimate.json").is_file()
    assert (prj / "csim" / "libjets.so").stat().st_size > 0
    saved = hepinfer.config.Config.load(prj / "config.yml")
    assert saved.semantics == "hls4ml"
    assert saved.clock_period == 4.0
    # after synthesis: `hepinfer report` puts the saved estimate next to the vendor's figures
    from tests.estimate.test_synthesis import CSYNTH

    (prj / "jets_csynth.xml").write_text(CSYNTH)
    assert main(["report", str(prj)]) == 0
    report = capsys.readouterr().out
    assert report.startswith("semantics: hls4ml")
    assert "estimate" in report
    assert "hls (jets_csynth.xml)" in report


def test_convert_without_a_model_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.yml").write_text("HLSConfig: {Model: {Precision: ap_fixed<8,3>}}\n")
    assert main(["convert", str(tmp_path / "c.yml")]) == 1
    assert "names no model" in capsys.readouterr().err


def test_verbose_and_quiet_after_the_subcommand() -> None:
    parser = build_parser()
    args = parser.parse_args(["estimate", "m.onnx", "-v"])
    assert (args.verbose, args.quiet) == (1, 0)
    args = parser.parse_args(["-vv", "estimate", "m.onnx"])
    assert (args.verbose, args.quiet) == (2, 0)
    args = parser.parse_args(["serve", "models/", "-q"])
    assert (args.verbose, args.quiet) == (0, 1)
    assert log_level(0, 0) == logging.WARNING
    assert log_level(1, 0) == logging.INFO
    assert log_level(2, 0) == logging.DEBUG
    assert log_level(0, 1) == logging.ERROR
    with pytest.raises(SystemExit) as exc:
        main(["estimate", "m.onnx", "-v", "-q"])
    assert exc.value.code == 2
