"""The generated project: golden files for two small models, layout, test vectors, errors.

Golden files live in tests/hls/golden/<case>/ (every generated text file but the kernel
library, which is checked in as it is). A change to generated code fails here until the
goldens are rewritten with `HEPINFER_UPDATE_GOLDEN=1 pytest tests/hls/test_writer.py` and the
diff is reviewed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hepinfer
from hepinfer._version import __version__
from hepinfer.errors import HlsError
from hepinfer.hls.csim import header_dir
from hepinfer.hls.writer import render
from hepinfer.knobs import Headers
from tests.hls.onnx_models import convnet, mlp

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "mlp_parallel": (
        ((6, 8, 4), ("Relu", "Softmax")),
        {"Model": {"Precision": "ap_fixed<12,5>"}, "IOType": "io_parallel"},
    ),
    "mlp_stream_resource": (
        ((5, 6, 3), ("Tanh", "Sigmoid")),
        {
            "Model": {
                "Precision": {"default": "ap_fixed<10,4>", "accum": "ap_fixed<16,6,AP_RND,AP_SAT>"},
                "ReuseFactor": 2,
                "Strategy": "Resource",
            },
            "IOType": "io_stream",
        },
    ),
    # Resource in io_parallel: DATAFLOW top; RF 12 > n_in (fc0: 2 output groups of 4)
    "mlp_parallel_resource": (
        ((6, 8, 4), ("Relu", "Softmax")),
        {
            "Model": {
                "Precision": {"default": "ap_fixed<12,5>", "accum": "ap_fixed<16,6,AP_RND,AP_SAT>"},
                "ReuseFactor": 12,
                "Strategy": "Resource",
            },
            "IOType": "io_parallel",
        },
    ),
    # Conv1D 'same' stride 2 with line buffers, MaxPool, Conv1D, Dense over the pixels
    "conv1d_stream": (
        ((), ()),
        {"Model": {"Precision": "ap_fixed<12,4>"}, "IOType": "io_stream"},
    ),
}


def _compiled(case: str, tmp: Path) -> hepinfer.CompiledModel:
    (sizes, acts), config = CASES[case]
    path = tmp / f"{case}.onnx"
    if case == "conv1d_stream":
        return hepinfer.compile(convnet(path, 1, "same", 2, seed=3), config)
    return hepinfer.compile(mlp(path, sizes, acts, seed=3), config)


def _generated(case: str, tmp: Path) -> dict[str, str]:
    model = _compiled(case, tmp)
    project = render(model.graph, io_type=model.config.io_type.value)
    return {
        rel: text.replace(__version__, "VERSION")
        for rel, text in project.text.items()
        if not rel.startswith("firmware/hepinfer/")
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, tmp_path: Path) -> None:
    files = _generated(case, tmp_path)
    folder = GOLDEN / case
    if os.environ.get("HEPINFER_UPDATE_GOLDEN") == "1":
        for old in folder.rglob("*"):
            if old.is_file():
                old.unlink()
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
    expected = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(expected), "generated file list changed"
    for rel, text in files.items():
        assert text == expected[rel], (
            f"{case}/{rel} differs from its golden file; review and rewrite with "
            "HEPINFER_UPDATE_GOLDEN=1"
        )


@pytest.mark.parametrize(
    ("case", "load_weights"),
    [
        ("mlp_parallel", True),
        ("mlp_parallel", False),
        ("conv1d_stream", False),
        ("mlp_parallel_resource", False),
    ],
    ids=["bin-weights", "header-weights", "stream-conv", "resource-header-weights"],
)
def test_written_project_runs_its_testbench(tmp_path: Path, case: str, load_weights: bool) -> None:
    """The project as a user gets it: the testbench compiles with g++ (weights read from the
    .bin files, or compiled in from the headers as in synthesis) and finds no difference from
    the emulator's test vectors.
    """
    model = _compiled(case, tmp_path)
    shape = model.graph.inputs[0].out.shape
    x = np.random.default_rng(0).normal(size=(200, *shape)) * 2
    root = model.write_hls(tmp_path / "prj", test_inputs=x)
    for rel in ("build.tcl", "firmware/myproject.cpp", "tb_data/tb_output_predictions.dat"):
        assert (root / rel).is_file()
    assert "set_part $part" in (root / "build.tcl").read_text()
    _, headers = header_dir("hepinfer")
    exe = tmp_path / "tb"
    cmd = [
        "g++", "-O1", "-DNDEBUG", "-std=c++14", *(["-DHEPINFER_LOAD_WEIGHTS"] if load_weights else []),
        f"-I{root / 'firmware'}", f"-I{headers}",
        str(root / "tb" / "myproject_test.cpp"), str(root / "firmware" / "myproject.cpp"),
        "-o", str(exe),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    proc = subprocess.run([str(exe)], cwd=root, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "200 samples, 0 outputs differ" in proc.stdout
    got = np.loadtxt(root / "tb_data" / "csim_results.log")
    np.testing.assert_array_equal(got, np.asarray(model.predict(x)).reshape(200, -1))


def test_weights_headers_hold_exact_values(tmp_path: Path) -> None:
    (sizes, acts), config = CASES["mlp_parallel"]
    model = hepinfer.compile(mlp(tmp_path / "m.onnx", sizes, acts, seed=3), config)
    project = render(model.graph)
    w = np.frombuffer(project.binary["firmware/weights/w1.bin"], dtype="<f8")
    node = model.graph.nodes[1]
    tw = node.precision.weight
    assert tw is not None
    np.testing.assert_array_equal(w, tw.cast(node.weights["kernel"]).reshape(-1))
    assert repr(float(w[0])) in project.text["firmware/weights/w1.h"]


def test_errors(tmp_path: Path) -> None:
    (sizes, acts), config = CASES["mlp_parallel"]
    graph = hepinfer.compile(mlp(tmp_path / "m.onnx", sizes, acts), config).graph
    with pytest.raises(HlsError, match="io_type"):
        render(graph, io_type="io_serial")
    with pytest.raises(HlsError, match="C identifier"):
        render(graph, project="my-project")


def _build_testbench(root: Path, exe: Path, *flags: str) -> None:
    _, headers = header_dir(Headers.HEPINFER)  # Xilinx's open-source copy refuses __SYNTHESIS__
    cmd = [
        "g++", "-O1", "-DNDEBUG", "-std=c++14", *flags,
        f"-I{root / 'firmware'}", f"-I{headers}",
        str(root / "tb" / "myproject_test.cpp"), str(root / "firmware" / "myproject.cpp"),
        "-o", str(exe),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)


@pytest.mark.parametrize("case", ["mlp_parallel", "conv1d_stream"])
def test_without_test_inputs_the_testbench_runs_one_zero_sample(tmp_path: Path, case: str) -> None:
    """A project written without test vectors has tb_data/ and its testbench runs the design
    once on zeros (as hls4ml's), writing the emulator's output for a zero input.
    """
    model = _compiled(case, tmp_path)
    root = model.write_hls(tmp_path / "prj")
    assert (root / "tb_data").is_dir()
    assert not (root / "tb_data" / "tb_input_features.dat").exists()
    _build_testbench(root, tmp_path / "tb")
    proc = subprocess.run(
        [str(tmp_path / "tb")], cwd=root, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 samples" in proc.stdout
    got = np.loadtxt(root / "tb_data" / "csim_results.log", ndmin=2)
    zero = np.zeros((1, *model.graph.inputs[0].out.shape))
    np.testing.assert_array_equal(got, np.asarray(model.predict(zero)).reshape(1, -1))


def test_a_testbench_that_reads_no_sample_fails(tmp_path: Path) -> None:
    model = _compiled("mlp_parallel", tmp_path)
    root = model.write_hls(tmp_path / "prj")
    (root / "tb_data" / "tb_input_features.dat").write_text("")
    _build_testbench(root, tmp_path / "tb")
    proc = subprocess.run(
        [str(tmp_path / "tb")], cwd=root, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "no sample" in proc.stderr


def test_cosimulation_writes_its_own_log_and_synthesis_never_loads_weights(tmp_path: Path) -> None:
    """Built as co-simulation builds it (-DRTL_SIM) the testbench writes
    rtl_cosim_results.log, not csim_results.log; with __SYNTHESIS__ defined the run-time
    weight loader is compiled out even when HEPINFER_LOAD_WEIGHTS is set (no .bin is read:
    the weights come from the headers) and the outputs still equal the emulator's.
    """
    model = _compiled("mlp_parallel", tmp_path)
    x = np.random.default_rng(1).normal(size=(20, 6)) * 2
    root = model.write_hls(tmp_path / "prj", test_inputs=x)
    for weights in (root / "firmware" / "weights").glob("*.bin"):
        weights.unlink()
    flags = ("-DRTL_SIM", "-DHEPINFER_LOAD_WEIGHTS", "-D__SYNTHESIS__")
    _build_testbench(root, tmp_path / "tb", *flags)
    proc = subprocess.run(
        [str(tmp_path / "tb")], cwd=root, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "20 samples, 0 outputs differ" in proc.stdout
    assert not (root / "tb_data" / "csim_results.log").exists()
    got = np.loadtxt(root / "tb_data" / "rtl_cosim_results.log")
    np.testing.assert_array_equal(got, np.asarray(model.predict(x)).reshape(20, -1))


def test_build_script_has_hls4ml_settings_and_a_vitis_run_variant(tmp_path: Path) -> None:
    files = _generated("mlp_parallel", tmp_path)
    tcl = files["build.tcl"]
    for line in (
        "config_compile -name_max_length 80",
        "config_schedule -enable_dsp_full_reg=false",
        "set_clock_uncertainty $clock_uncertainty default",
        "set clock_uncertainty 27%",
        "vitis-run --mode hls --tcl build.tcl",
        "file mkdir tb_data",
        '-cflags "-std=c++14 -Ifirmware -DRTL_SIM"',
        "source [file join $tcldir build_opt.tcl]",
    ):
        assert line in tcl
    assert "array set opt {csim 1 synth 1 cosim 0 export 0}" in files["build_opt.tcl"]
    assert "tb_data/README.txt" in files


def test_io_parallel_top_has_one_port_per_array(tmp_path: Path) -> None:
    """hls4ml's interface: each array reshaped into one port, one ap_vld pragma for all."""
    top = _generated("mlp_parallel", tmp_path)["firmware/myproject.cpp"]
    assert "#pragma HLS ARRAY_RESHAPE variable = x complete dim = 0" in top
    assert "#pragma HLS ARRAY_RESHAPE variable = softmax1_out complete dim = 0" in top
    assert top.count("#pragma HLS INTERFACE ap_vld") == 1
    assert "#pragma HLS INTERFACE ap_vld port = x,softmax1_out" in top
    assert "ARRAY_PARTITION variable = x " not in top
