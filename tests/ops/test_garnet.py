"""GarNet and GarNetStack (hls4ml's `contrib.garnet` Keras layers, read by class name from
Keras 2 JSON + HDF5) against hls4ml 1.3's C simulation, Keras, and hepinfer's own HLS project.

The oracle: one Keras 2 model with random weights built in the qkeras peer (TensorFlow 2.14,
`tests/ops/garnet_runner.py`) with three branches on vertex features (8 vertices, 3 features)
and a vertex count: a per-vertex GarNet, a collapsed GarNet followed by a Dense, a
two-sublayer GarNetStack, and a collapsed GarNet and a two-sublayer GarNetStack with
`mean_by_nvert=True` (hls4ml's integer normalisation by the count; Keras divides by the count,
its collapse by True) and `quantize_transforms=True` (hls4ml makes their transforms ternary;
float mode is compared with Keras' GarNet / GarNetStack on those ternary weights, which the
runner also computes); hls4ml 1.3 converts and C-simulates it (io_parallel, its GarNet's
only IO type) at model-level `ap_fixed<16,6>` and at a mixed per-layer configuration (input
and result types, reuse factor 2, the aggregator and edge-weight types, RND/SAT results), once
per module. hls4ml leaves the output rows of the vertices past the count unwritten: those rows
are compared with Keras (0) only.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError, GraphError, HlsError
from hepinfer.frontends.keras import convert_config
from hepinfer.ir.op import Op

RUNNER = Path(__file__).with_name("garnet_runner.py")
V, F, N = 8, 3, 2000
OUTPUTS = ("gar_v", "fc", "stack", "gar_n", "stack_n")
#: the per-vertex outputs (hls4ml leaves the rows past the count unwritten)
PER_VERTEX = ("gar_v",)
MIXED: dict[str, Any] = {
    "x": {"Precision": {"result": "ap_fixed<12,4>"}},
    "gar_v": {
        "ReuseFactor": 2,
        "Precision": {"result": "ap_fixed<14,5>", "edge_weight": "ap_ufixed<8,0,AP_TRN,AP_SAT>"},
    },
    "gar_m": {"Precision": {"result": "ap_fixed<14,5>", "aggr": "ap_fixed<14,5,AP_RND,AP_SAT>"}},
    "fc": {"Precision": {"result": "ap_fixed<18,7>", "accum": "ap_fixed<20,8>"}},
    # hls4ml keeps the Dense's linear activation as a layer of 'auto' type; hepinfer has none
    "fc_linear": {"Precision": {"result": "ap_fixed<18,7>"}},
    "gar_n": {"ReuseFactor": 2},
    "stack": {
        "ReuseFactor": 2,
        "Precision": {
            "result": "ap_fixed<12,4,AP_RND,AP_SAT>",
            "edge_weight": "ap_ufixed<9,0,AP_TRN,AP_SAT>",
        },
    },
    "stack_n": {
        "ReuseFactor": 2,
        "Precision": {"result": "ap_fixed<14,5,AP_RND,AP_SAT>", "aggr": "ap_fixed<16,6,AP_RND>"},
    },
}


@pytest.fixture(scope="module")
def oracle(qkeras_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model, its inputs, Keras' outputs and hls4ml's C simulation (both configs)."""
    work = tmp_path_factory.mktemp("garnet")
    rng = np.random.default_rng(5)
    x = np.round(rng.uniform(-2, 2, (N, V, F)) * 32) / 32  # exact in ap_fixed<12,4>
    n = rng.integers(1, V + 1, (N, 1)).astype(np.float64)
    np.save(work / "x.npy", x)
    np.save(work / "n.npy", n)
    spec = {
        "x": str(work / "x.npy"),
        "n": str(work / "n.npy"),
        "out": str(work),
        "jobs": [{"model": "garnet", "seed": 1, "configs": {"model": "model", "mixed": MIXED}}],
    }
    (work / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run(
        [str(qkeras_python), str(RUNNER), str(work / "spec.json")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return work


def _data(work: Path) -> tuple[np.ndarray, np.ndarray, tuple[Path, Path]]:
    out = work / "garnet"
    return (
        np.load(work / "x.npy"),
        np.load(work / "n.npy"),
        (out / "model.json", out / "model_weights.h5"),
    )


def _computed(n: np.ndarray, width: int) -> np.ndarray:
    """(N, V * width) mask of the per-vertex outputs hls4ml writes (vertex < count)."""
    return np.repeat(np.arange(V)[None, :] < n, width, axis=1)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("label", ["model", "mixed"])
def test_bit_exact_against_hls4ml_csim(oracle: Path, label: str) -> None:
    x, n, files = _data(oracle)
    config = json.loads((oracle / "garnet" / f"config_{label}.json").read_text())
    model = hepinfer.compile(files, config)
    ops = [model.graph.node(o).op for o in OUTPUTS]
    assert ops == [Op.GARNET, Op.DENSE, Op.GARNET_STACK, Op.GARNET, Op.GARNET_STACK]
    for name in ("gar_n", "stack_n"):
        assert model.graph.node(name).attrs["mean_by_nvert"] is True
        assert model.graph.node(name).attrs["quantize_transforms"] is True
    ours = model.predict([x, n])
    assert isinstance(ours, dict)
    for i, name in enumerate(OUTPUTS):
        got = np.asarray(ours[name]).reshape(N, -1)
        expected = np.load(oracle / "garnet" / f"y_{label}{i}.npy").reshape(N, -1)
        differ = got != expected
        if name in PER_VERTEX:
            assert not np.any(got[~_computed(n, got.shape[1] // V)])  # Keras' zeros
            differ &= _computed(n, got.shape[1] // V)
        assert not np.any(differ), f"{name}: {int(differ.sum())} of {differ.size} differ"
        assert len(np.unique(got)) > 100  # not a constant output


@pytest.mark.oracle
@pytest.mark.slow
def test_float_mode_equals_keras(oracle: Path) -> None:
    """Keras computes in float32, hepinfer's float mode in float64: equal within 1e-5
    relative (1e-6 absolute near zero, float32's resolution of these sums). gar_n, stack_n:
    Keras' GarNet / GarNetStack on hls4ml's ternary weights (the Keras layers' own
    quantized_bits transforms, whose sizes their saved configs leave out, are another
    network).
    """
    x, n, files = _data(oracle)
    ours = hepinfer.compile(files, {"Model": {"Precision": "ap_fixed<16,6>"}}).predict(
        [x, n], mode="float"
    )
    assert isinstance(ours, dict)
    for i, name in enumerate(OUTPUTS):
        keras = np.load(oracle / "garnet" / f"y_keras{i}.npy").reshape(N, -1)
        got = np.asarray(ours[name]).reshape(N, -1)
        ternary = {"gar_n": "y_ternary.npy", "stack_n": "y_ternary_stack.npy"}.get(name)
        if ternary:
            assert not np.allclose(got, keras, rtol=1e-2)
            keras = np.load(oracle / "garnet" / ternary).reshape(N, -1)
        np.testing.assert_allclose(got, keras, rtol=1e-5, atol=1e-6)


@pytest.mark.oracle
@pytest.mark.slow
def test_hls_csim_equals_emulator_and_estimate(oracle: Path) -> None:
    """The HLS project (io_parallel; hls4ml's GarNet has no io_stream form) on the
    mixed configuration, both header sets, and the estimate's GarNet entries.
    """
    x, n, files = _data(oracle)
    config = json.loads((oracle / "garnet" / "config_mixed.json").read_text())
    model = hepinfer.compile(files, config)
    xs = [x[:100], n[:100]]
    expected = model.predict(xs)
    assert isinstance(expected, dict)
    for headers in ("xilinx", "hepinfer"):
        got = model.csim(xs, io_type="io_parallel", headers=headers)
        assert isinstance(got, dict)
        for name in OUTPUTS:
            np.testing.assert_array_equal(got[name], expected[name])
    with pytest.raises(HlsError, match=r"'gar_\w' \(GarNet\) has no io_stream kernel"):
        model.csim(xs, io_type="io_stream")
    est = model.estimate(part="xcu250")
    names = {layer.name for layer in est.layers}
    assert {"gar_v", "gar_m", "stack", "stack_n"} <= names
    assert est.latency_cycles > 0
    assert est.total.dsp > 0


# ------------------------------------------------------------------ refusals (no peer)


def _config(cls: str, **changes: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": "g",
        "simplified": True,
        "collapse": "mean",
        "input_format": "xn",
        "output_activation": None,
        "quantize_transforms": False,
        "mean_by_nvert": False,
        "n_aggregators": 2,
        "n_filters": 2,
        "n_propagate": 2,
    }
    if cls == "GarNetStack":
        cfg |= {"n_aggregators": [2, 2], "n_filters": [2, 2], "n_propagate": [2, 2]}
        cfg |= {"n_sublayers": 2}
    cfg |= changes
    inputs = [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 4, 2]}},
        {"class_name": "InputLayer", "config": {"name": "n", "batch_input_shape": [None, 1]}},
    ]
    layer = {"class_name": cls, "config": cfg, "name": "g", "inbound_nodes": [[["x"], ["n"]]]}
    return {
        "class_name": "Functional",
        "config": {"name": "m", "layers": [*inputs, layer], "output_layers": [["g", 0, 0]]},
    }


def _weights(n_sub: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = [(2, 2), (2,), (2, 2), (2,), (4, 2), (2,)] * n_sub
    return [rng.uniform(-1, 1, s).astype(np.float32) for s in shapes]


def test_a_garnet_json_converts_without_the_class() -> None:
    graph = convert_config(_config("GarNet"), lambda name: _weights(1) if name == "g" else [])
    node = graph.node("g")
    assert node.op is Op.GARNET
    assert node.inputs == ("x", "n")
    assert node.out.shape == (2,)
    assert set(node.weights) == {
        f"{p}_{k}" for p in ("FLR", "S", "Fout") for k in ("kernel", "bias")
    }


@pytest.mark.parametrize(
    ("cls", "changes", "match"),
    [
        ("GarNet", {"simplified": False}, "simplified=False"),
        ("GarNet", {"input_format": "x"}, "input_format='x'"),
        ("GarNet", {"output_activation": "tanh"}, "output_activation='tanh'"),
        ("GarNet", {"collapse": "max"}, "collapse='max'"),
        ("GarNetStack", {"collapse": None}, "collapse=None"),
        ("GarNetStack", {"n_sublayers": 1}, "n_sublayers=1"),
    ],
)
def test_what_hls4ml_cannot_build_is_refused_by_name(
    cls: str, changes: dict[str, Any], match: str
) -> None:
    n_sub = 2 if cls == "GarNetStack" else 1
    with pytest.raises(FrontendError, match=rf"'g' \({cls}\) with {match}.*supported"):
        convert_config(_config(cls, **changes), lambda _: _weights(n_sub))


def test_a_reuse_factor_that_does_not_divide_the_vertices_is_refused() -> None:
    graph = convert_config(_config("GarNet"), lambda name: _weights(1) if name == "g" else [])
    config = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 3}}
    with pytest.raises(GraphError, match=r"reuse factor 3 must be a power of two that divides"):
        hepinfer.compile(graph, config).predict([np.zeros((1, 4, 2)), np.ones((1, 1))])
