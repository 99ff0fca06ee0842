"""`hepinfer demo --quick`: end to end, with the report's measured figures checked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n"


def test_demo_quick_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "hepinfer", "demo", "--quick", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,  # includes a Verilator build and a Yosys synthesis of the tagger
    )
    assert done.returncode == 0, done.stderr
    assert "[5/5] direct done" in done.stdout
    assert "C simulation vs emulator" in done.stdout
    assert f"written to {out}/" in done.stdout

    summary = json.loads((out / "summary.json").read_text())
    assert summary["csim_differing"] == 0
    assert summary["csim_samples"] == 1000
    if shutil.which("verilator"):  # installed by make demo/test
        open_fw = summary["open_firmware"]
        assert open_fw["differing"] == 0
        assert open_fw["samples"] == 1000
        assert open_fw["latency_cycles"] == open_fw["manifest_latency_cycles"]
        assert open_fw["luts"] is None  # --quick skips Yosys; tests/rtl covers synthesis
        assert "skipped (--quick)" in open_fw["note"]
        assert "Verilog (Verilator) vs emulator" in done.stdout
    assert summary["float_accuracy"] > 0.5  # 5 classes: chance is 0.2
    assert summary["fixed_accuracy"] > 0.5
    assert summary["argmax_agreement"] > 0.95
    assert summary["latency_cycles"] > 0
    assert summary["dsp"] > 0
    assert summary["served"]["jet_onnx"] == {"samples": 256, "differing": 0}
    assert summary["firmware_served"]
    assert summary["served"]["jet_firmware"] == {"samples": 256, "differing": 0}
    assert set(summary["scans"]) == {"jet_onnx", "jet_firmware"}
    for scan in summary["scans"].values():
        assert scan["clients"] == [1, 4, 16]
        assert scan["failures"] == 0
        assert all(rate > 0 for rate in scan["server_inferences_per_s"])
    assert summary["direct"]["onnxruntime"]["batch1_per_s"] > 0

    report = (out / "report.md").read_text()
    assert report.startswith("# hepinfer demo: from a trained model to firmware and a service")
    assert "**0 differing outputs**" in report
    assert "`semantics: hls4ml (" in report  # the meaning of the demo's precision, stated
    assert (out / "estimate.txt").read_text().startswith("semantics: hls4ml")
    for png in ("profile.png", "estimate.png", "scan_jet_onnx.png", "scan_jet_firmware.png"):
        assert f"]({png})" in report
        data = (out / png).read_bytes()
        assert data.startswith(PNG)
        assert len(data) > 10_000
    html = (out / "report.html").read_text()
    assert "<h1>hepinfer demo" in html
    for name in ("model.onnx", "estimate.txt", "profile.txt", "hls/build.tcl", "scan_jet_onnx.csv"):
        assert (out / name).is_file(), name
    assert (out / "model.hepinfer" / "graph.json").is_file()


def test_demo_rejects_a_missing_model(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hepinfer", "demo", "--model", str(tmp_path / "no.onnx")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no.onnx does not exist" in done.stderr


def test_demo_on_a_users_keras_model(tmp_path: Path, shared_data: Path) -> None:
    model = shared_data / "hls4ml-example-models" / "keras" / "KERAS_3layer.json"
    out = tmp_path / "demo"
    options = ["--precision", "ap_fixed<14,6>", "--reuse-factor", "2", "-o", str(out)]
    options.append("--no-open-firmware")  # the first test covers it
    done = subprocess.run(
        [sys.executable, "-m", "hepinfer", "demo", "--quick", "--model", str(model), *options],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["float_accuracy"] is None  # random inputs: no labels
    assert summary["argmax_agreement"] > 0.9
    assert summary["csim_differing"] == 0
    assert summary["ii"] == 2
    assert summary["settings"]["precision"] == "ap_fixed<14,6>"
    # not ONNX: served on the firmware backend only
    assert summary["served"] == {"jet_firmware": {"samples": 256, "differing": 0}}
    assert "--reuse-factor 2" in summary["command"]
