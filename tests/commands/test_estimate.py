"""`hepinfer estimate` end to end: model files, compiled directories, knobs, outputs, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer.cli import main
from hepinfer.estimate import Estimate
from hepinfer.ir import Graph, Node, Op, TensorType


def mlp() -> Graph:
    rng = np.random.default_rng(0)
    x = Node("x", Op.INPUT, (), TensorType((16,)), {"shape": (16,)})
    fc = Node(
        "fc",
        Op.DENSE,
        ("x",),
        TensorType((8,)),
        weights={"kernel": rng.normal(0, 0.3, (16, 8)), "bias": np.zeros(8)},
    )
    act = Node("act", Op.SOFTMAX, ("fc",), TensorType((8,)))
    return Graph("mlp", (x, fc, act), ("act",))


@pytest.fixture
def compiled_dir(tmp_path: Path) -> Path:
    return hepinfer.compile(mlp()).save(tmp_path / "compiled")


def test_help_lists_the_knobs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["estimate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--part", "--clock-period", "--reuse-factor", "--strategy", "--precision"):
        assert option in out
    assert "--io-type" in out
    assert "--tool" in out
    assert "vivado-hls-2020" in out
    assert "--json" in out
    assert "-o" in out


def test_compiled_dir_table_and_outputs(
    compiled_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "est"
    code = main(
        ["estimate", str(compiled_dir), "--part", "xcvu9p", "--clock-period", "4", "-o", str(out)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "total" in text
    assert "% of xcvu9p" in text
    assert {p.name for p in out.iterdir()} == {
        "estimate.txt",
        "estimate.json",
        "estimate.png",
        "config.yml",
    }
    assert "semantics: hepinfer" in (out / "estimate.txt").read_text()
    assert (out / "config.yml").read_text().startswith("Semantics: hepinfer")
    est = Estimate.from_json(out / "estimate.json")
    assert est.clock_period == 4.0
    assert est.part.name.startswith("xcvu9p")
    # the same numbers as the Python API on the same model
    expected = hepinfer.load(compiled_dir).estimate(part="xcvu9p", clock_period=4.0)
    assert est == expected
    # estimate.txt: the semantics and layer types, then the table
    assert (out / "estimate.txt").read_text().endswith("\n\n" + expected.to_table() + "\n")
    assert (out / "estimate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_knobs_reconfigure_a_compiled_dir(
    compiled_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*args: str) -> Estimate:
        assert main(["estimate", str(compiled_dir), "--json", *args]) == 0
        return Estimate.from_json(capsys.readouterr().out)

    base = run()
    rf4 = run("--reuse-factor", "4")
    res = run("--reuse-factor", "4", "--strategy", "resource")
    narrow = run("--precision", "ap_fixed<8,3>")
    stream = run("--io-type", "io_stream")
    assert base.ii == 1
    assert rf4.ii == 4
    assert rf4.total.dsp < base.total.dsp
    assert res.total.dsp >= rf4.total.dsp
    # Resource reads its weights from a ROM (this small layer's in LUTRAM, by the size rule)
    assert res.layers[0].details["weight_rom"] in ("lutram", "bram")
    assert "weight_rom" not in rf4.layers[0].details
    assert narrow.total.dsp < base.total.dsp
    assert {lay.io_type for lay in stream.layers} == {"io_stream"}
    assert base.tool == "vitis-2025"  # the default: the current Vitis
    vivado = run("--tool", "vivado-hls-2019")
    assert vivado.tool == "vivado-hls-2019"
    assert vivado.total.dsp == base.total.dsp
    assert vivado.latency_cycles <= base.latency_cycles


def test_auto_types_with_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = hepinfer.config_from_model(mlp(), granularity="name")  # every type 'auto'
    saved = hepinfer.compile(mlp(), config).save(tmp_path / "auto")
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(2).normal(0, 1, (200, 16)))
    assert main(["estimate", str(saved), "--calibration", str(x), "--json"]) == 0
    assert Estimate.from_json(capsys.readouterr().out).total.dsp > 0
    assert main(["estimate", str(saved), "--calibration", str(tmp_path / "none.npy")]) == 1
    assert "--calibration" in capsys.readouterr().err


def test_config_file_and_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model.onnx"
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(1).normal(0, 0.3, (16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(w, "w")],
    )
    onnx.save(helper.make_model(graph), model)
    config = tmp_path / "c.yml"
    config.write_text("Model:\n  Precision: ap_fixed<16,6>\n  ReuseFactor: 2\nPart: xcku115\n")
    assert main(["estimate", str(model), "-c", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ii"] == 2
    assert data["part"]["name"].startswith("xcku115")


def test_errors_exit_1_or_2(
    compiled_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["estimate", str(compiled_dir), "--part", "xc9999"]) == 1
    err = capsys.readouterr().err
    assert "FPGA part 'xc9999' is not in the part database" in err
    assert "xcu250" in err
    assert main(["estimate", str(tmp_path / "missing.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["estimate", str(tmp_path)]) == 1
    assert "not a `hepinfer compile` output" in capsys.readouterr().err
    assert main(["estimate", str(compiled_dir), "--clock-period", "0"]) == 1
    assert "--clock-period 0.0 ns is invalid" in capsys.readouterr().err
    assert main(["estimate", str(compiled_dir), "--precision", "auto"]) == 1
    assert main(["estimate", str(compiled_dir), "--reuse-factor", "0"]) == 1
    with pytest.raises(SystemExit) as exc:
        main(["estimate", str(compiled_dir), "--strategy", "fast"])
    assert exc.value.code == 2


def test_over_utilisation_is_reported_not_fatal(
    compiled_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the 16 x 8 dense + softmax needs more DSPs than an xc7z020 has at 32 bits
    code = main(
        ["estimate", str(compiled_dir), "--part", "xc7z020", "--precision", "ap_fixed<40,12>"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "warning: the design needs" in out
    assert "xc7z020" in out


def test_shared_model_file_as_a_subprocess(shared_data: Path, tmp_path: Path) -> None:
    model = shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hepinfer",
            "estimate",
            str(model),
            "--part",
            "xcku115",
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fc1_relu" in proc.stdout
    assert "xcku115" in proc.stdout
    est = Estimate.from_json(tmp_path / "estimate.json")
    assert est.layers[0].name == "fc1_relu"
    assert est.total.dsp > 0
