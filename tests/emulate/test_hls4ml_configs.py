"""hls4ml's own configurations compile unchanged and bit-exactly (hls4ml 1.3 peer).

For the KERAS_3layer jet tagger: the output of hls4ml's `config_from_keras_model` at
granularity model, type and name (every key it writes: BramFactor, TraceOutput, Trace, ...;
its 'auto' entries pinned to concrete types, see hls4ml_config_runner.PINS, so that the
softmax output stays informative), the same with every 'auto' left in (hls4ml's own auto rule,
types compared layer by layer), 'auto' Conv1D and BatchNormalization types, and a complete
`hls4ml convert` YAML. hls4ml runs in its own virtual environment; the tests skip when it or
the example models are absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.cli import main
from hepinfer.fixed import FixedType
from hepinfer.ir.op import Op
from tests.emulate.test_hls4ml_oracle import run_script

RUNNER = Path(__file__).with_name("hls4ml_config_runner.py")


def run_runner(python: Path, spec: dict[str, Any], work: Path) -> tuple[np.ndarray, Any]:
    run_script(python, RUNNER, spec, work)
    return np.load(spec["y"]), json.loads(Path(spec["config_out"]).read_text())


def _spec(model: tuple[Path, Path], x: np.ndarray, work: Path) -> dict[str, Any]:
    np.save(work / "x.npy", x)
    return {
        "json": str(model[0]),
        "h5": str(model[1]),
        "x": str(work / "x.npy"),
        "y": str(work / "y.npy"),
        "out_dir": str(work / "hls4ml_prj"),
        "config_out": str(work / "config.json"),
    }


@pytest.fixture
def tagger(shared_data: Path) -> tuple[Path, Path]:
    keras_dir = shared_data / "hls4ml-example-models" / "keras"
    return keras_dir / "KERAS_3layer.json", keras_dir / "KERAS_3layer_weights.h5"


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("granularity", ["model", "type", "name"])
def test_config_from_keras_model_is_bit_exact(
    hls4ml_python: Path, tagger: tuple[Path, Path], tmp_path: Path, granularity: str
) -> None:
    x = np.random.default_rng(11).standard_normal((5000, 16))
    spec = {**_spec(tagger, x, tmp_path), "granularity": granularity}
    expected, config = run_runner(hls4ml_python, spec, tmp_path)
    assert config["Model"]["BramFactor"] == 1_000_000_000  # hls4ml's keys are all there
    assert "TraceOutput" in config["Model"]
    if granularity != "model":
        level = "LayerType" if granularity == "type" else "LayerName"
        assert all("Trace" in v for v in config[level].values())
    model = hepinfer.compile(tagger, config)  # unchanged
    assert model.config.semantics == "hls4ml"
    assert any("BramFactor" in n for n in model.config.notes)
    ours = model.predict(x)
    assert isinstance(ours, np.ndarray)
    assert ours.shape == expected.shape == (5000, 5)
    assert int(np.count_nonzero(ours != expected)) == 0
    assert np.unique(ours, axis=0).shape[0] > 1000  # not a flattened softmax


@pytest.mark.oracle
@pytest.mark.slow
def test_hls4ml_convert_yaml_is_bit_exact(
    hls4ml_python: Path,
    tagger: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    x = np.random.default_rng(12).standard_normal((5000, 16))
    yaml_path = tmp_path / "keras-config.yml"
    yaml_path.write_text(
        f"KerasJson: {tagger[0]}\n"
        f"KerasH5: {tagger[1]}\n"
        f"OutputDir: {tmp_path / 'hls4ml_prj'}\n"
        "ProjectName: myproject\n"
        "Part: xcu250-figd2104-2L-e\n"
        "ClockPeriod: 5\n"
        "IOType: io_parallel\n"
        "Backend: Vitis\n"
        "HLSConfig:\n"
        "  Model:\n"
        "    Precision: ap_fixed<16,6>\n"
        "    ReuseFactor: 1\n"
        "    Strategy: Latency\n"
        "    BramFactor: 1000000000\n"
        "    TraceOutput: false\n"
        "  LayerType:\n"
        "    Dense:\n"
        "      Precision: {weight: 'ap_fixed<10,3,AP_RND,AP_SAT>', accum: 'ap_fixed<24,10>'}\n"
        "  LayerName:\n"
        "    fc1_relu:\n"
        "      Precision: {result: 'ap_fixed<14,6>'}\n"
        "      Trace: false\n"
        "    output_softmax_softmax:\n"
        "      Precision: {exp_table: 'ap_fixed<18,8,AP_RND,AP_SAT>', "
        "inv_table: 'ap_fixed<18,8,AP_RND,AP_SAT>'}\n"
        "      table_size: 1024\n"
    )
    spec = {**_spec(tagger, x, tmp_path), "yaml": str(yaml_path)}
    expected, _ = run_runner(hls4ml_python, spec, tmp_path)
    ours = hepinfer.compile(tagger, yaml_path).predict(x)
    assert isinstance(ours, np.ndarray)
    assert int(np.count_nonzero(ours != expected)) == 0
    assert np.unique(ours, axis=0).shape[0] > 1000
    # `hepinfer convert` takes the same file as it is: project, estimate, C simulation library
    out = tmp_path / "ours"
    assert main(["convert", str(yaml_path), "-o", str(out)]) == 0
    assert "semantics: hls4ml" in capsys.readouterr().out
    assert (out / "firmware" / "myproject.cpp").is_file()
    assert (out / "csim" / "libmyproject.so").is_file()
    np.save(tmp_path / "x.npy", x[:500])
    args = ["csim", str(tagger[0]), "-c", str(yaml_path), "-i", str(tmp_path / "x.npy")]
    assert main([*args, "-o", str(tmp_path / "y_csim.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y_csim.npy"), expected[:500])


def _their_types(path: Path) -> dict[str, dict[str, FixedType]]:
    """hls4ml's types per layer (result, accum, weight, bias), parsed as hepinfer types."""
    names = {"result_t": "result", "accum_t": "accum", "weight_t": "weight", "bias_t": "bias"}
    return {
        layer: {names[k]: FixedType.parse(v) for k, v in types.items() if k in names}
        for layer, types in json.loads(path.read_text()).items()
    }


@pytest.mark.oracle
@pytest.mark.slow
def test_auto_is_hls4mls_own_rule(
    hls4ml_python: Path, tagger: tuple[Path, Path], tmp_path: Path
) -> None:
    """config_from_keras_model(granularity='name') as written, every 'auto' left in: each
    layer gets the types hls4ml 1.3's InferPrecisionTypes gives (Dense results of 37-39 bits
    from its weighted-sum rule, the default elsewhere) and the outputs are its bits.
    """
    x = np.random.default_rng(13).standard_normal((3000, 16)) * 4
    spec = {
        **_spec(tagger, x, tmp_path),
        "granularity": "name",
        "pin": False,
        "types_out": str(tmp_path / "types.json"),
    }
    expected, config = run_runner(hls4ml_python, spec, tmp_path)
    assert config["LayerName"]["fc1_relu"]["Precision"]["result"] == "auto"
    theirs = _their_types(tmp_path / "types.json")
    model = hepinfer.compile(tagger, config)
    assert model.config.semantics == "hls4ml"
    compared = 0
    for node in model.graph.nodes:
        for var, want in theirs[node.name].items():
            if var == "accum" and node.op is not Op.DENSE:
                continue  # the softmax accumulator is the kernel's own (checked bit-exactly)
            assert getattr(node.precision, var) == want, (node.name, var)
            compared += 1
    assert compared >= 4 * 4 + 5
    assert {str(n.precision.result) for n in model.graph.nodes if n.op is Op.DENSE} != {
        "ap_fixed<16,6>"
    }
    ours = model.predict(x)
    assert isinstance(ours, np.ndarray)
    assert int(np.count_nonzero(ours != expected)) == 0


AUTO_LAYERS: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerType": {
        "Conv1D": {"Precision": {"result": "auto", "accum": "auto", "weight": "auto"}},
        "BatchNormalization": {"Precision": {"result": "auto", "bias": "auto"}},
        "Dense": {"Precision": {"accum": "auto", "bias": "auto", "result": "ap_fixed<16,6>"}},
    },
}


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "shape"), [("KERAS_conv1d_small", (10, 4)), ("KERAS_3layer_batch_norm", (16,))]
)
def test_auto_conv_and_batchnorm_follow_hls4ml(
    hls4ml_python: Path, shared_data: Path, tmp_path: Path, name: str, shape: tuple[int, ...]
) -> None:
    """'auto' Conv1D results/accumulators and BatchNormalization results are hls4ml's types."""
    from tests.emulate.test_hls4ml_oracle import run_hls4ml

    keras_dir = shared_data / "hls4ml-example-models" / "keras"
    model = (keras_dir / f"{name}.json", keras_dir / f"{name}_weights.h5")
    x = np.random.default_rng(14).standard_normal((2000, *shape))
    expected = run_hls4ml(hls4ml_python, model, AUTO_LAYERS, x, tmp_path)
    compiled = hepinfer.compile(model, AUTO_LAYERS)
    auto = [n for n in compiled.graph.nodes if n.op in (Op.CONV1D, Op.BATCHNORM)]
    assert auto
    assert all(n.precision.result is not None and n.precision.result.width > 16 for n in auto)
    ours = compiled.predict(x)
    assert isinstance(ours, np.ndarray)
    ours = ours.reshape(len(x), -1)
    assert int(np.count_nonzero(ours != expected)) == 0
    assert np.unique(ours, axis=0).shape[0] > 100
