"""ZeroPadding, Cropping and UpSampling (1D and 2D): semantics against numpy, frontends (Keras 3,
Keras 2 JSON, PyTorch incl. cat/squeeze/unsqueeze), HLS C simulation == emulator (io_parallel,
io_stream, both header sets), estimate, and bit-exactness with hls4ml 1.3's C simulation on
Keras 3 models with random weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import FrontendError, GraphError
from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.fixed.headers import find_ap_types_headers
from hepinfer.frontends.keras import convert_config
from hepinfer.ir import Node, Op, TensorType
from hepinfer.ops import spec
from tests.ops.keras_oracle import MODEL_LEVEL, import_keras, keras_file, oracle

#: keras' own numpy 2 warnings (keras is used to build the models)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WIRING = ("zp", "crop", "up")
MIXED: dict[str, Any] = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
    "LayerName": {
        "c1": {
            "Precision": {
                "weight": "ap_fixed<8,2>",
                "bias": "ap_fixed<10,3>",
                "accum": "ap_fixed<20,8>",
                "result": "ap_fixed<12,4,AP_RND,AP_SAT>",
            }
        },
        "c2": {"Precision": {"result": "ap_fixed<14,5,AP_RND_CONV>", "weight": "ap_fixed<9,3>"}},
        "out": {"Precision": {"result": "ap_fixed<18,8>"}},
    },
}


def _node(op: Op, attrs: dict[str, Any], in_shape: tuple[int, ...]) -> Node:
    node = Node("n", op, ("x",), TensorType((1,)), attrs)
    return node.replace(out=TensorType(spec(op).shape(node, [TensorType(in_shape)])))


def test_semantics_equal_numpy() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4, 2))
    cases = [
        (Op.ZERO_PADDING, {"pads": (1, 0, 2, 3)}, np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0)))),
        (Op.CROPPING, {"crops": (1, 2, 1, 0)}, x[:, 1:4, 2:4]),
        (Op.UPSAMPLING, {"scale": (2, 3)}, x.repeat(2, axis=1).repeat(3, axis=2)),
    ]
    x1 = x[:, :, 0]  # (batch, 5, 4): 1D with 4 channels
    cases += [
        (Op.ZERO_PADDING, {"pads": (2, 1)}, np.pad(x1, ((0, 0), (2, 1), (0, 0)))),
        (Op.CROPPING, {"crops": (0, 3)}, x1[:, :2]),
        (Op.UPSAMPLING, {"scale": (3,)}, x1.repeat(3, axis=1)),
    ]
    t = FixedType.parse("ap_fixed<9,3>")
    for op, attrs, want in cases:
        src = x if len(want.shape) == 4 else x1
        node = _node(op, attrs, src.shape[1:])
        assert node.out.shape == want.shape[1:]
        np.testing.assert_array_equal(spec(op).run_float(node, [src]), want)
        fx = FxArray.from_float(src, t)
        got = spec(op).run_fixed(node, [fx])
        assert got.t == t  # the input's type: the values move unchanged
        np.testing.assert_array_equal(got.to_float(), spec(op).run_float(node, [fx.to_float()]))


def test_composed_maps_equal_axis_by_axis_gathers() -> None:
    """`gather`'s one take by the composed map of every axis (padding, cropping and
    repeats on one axis together, up to three spatial axes, empty batches) equals taking the
    axes one by one and zeroing what each pads.
    """
    from hepinfer.ops.resample import Axis, gather, identity

    rng = np.random.default_rng(5)
    for _ in range(200):
        dims = [int(d) for d in rng.integers(1, 6, int(rng.integers(2, 5)))]
        axes = []
        for d in dims[:-1]:
            off = int(rng.integers(0, d))
            cnt = int(rng.integers(0, d - off + 1))
            reps, pads = int(rng.integers(1, 4)), rng.integers(0, 3, 2)
            axes.append(Axis(int(pads[0]), off, reps, cnt, int(pads[1])))
        axes.append(identity(dims[-1]))
        x = rng.integers(-9, 10, (int(rng.integers(0, 4)), *dims))
        want = x
        for k, axis in enumerate(axes):
            src = axis.sources()
            want = np.take(want, np.maximum(src, 0), axis=k + 1)
            want = np.moveaxis(
                np.moveaxis(want, k + 1, 0) * (src >= 0)[(...,) + (None,) * (want.ndim - 1)],
                0,
                k + 1,
            )
        got = gather(x, axes)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(gather(x.astype(np.float64), axes), want)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(GraphError, match="leave at least one element"):
        _node(Op.CROPPING, {"crops": (3, 2)}, (5, 2))
    with pytest.raises(GraphError, match="must not be negative"):
        _node(Op.ZERO_PADDING, {"pads": (-1, 0)}, (5, 2))
    with pytest.raises(GraphError, match="per spatial axis"):
        _node(Op.UPSAMPLING, {"scale": (2, 2)}, (5, 2))


def layers_2d(rng: np.random.Generator) -> list[dict[str, Any]]:
    """(5, 6, 2) -> pad -> conv -> crop -> upsample -> strided conv -> dense."""
    return [
        {"class": "ZeroPadding2D", "config": {"padding": ((1, 2), (0, 1)), "name": "zp"}},
        {
            "class": "Conv2D",
            "config": {"filters": 3, "kernel_size": (3, 3), "name": "c1"},
            "weights": [rng.normal(0, 0.6, size=(3, 3, 2, 3)), rng.normal(0, 0.5, size=3)],
        },
        {"class": "Cropping2D", "config": {"cropping": ((1, 0), (0, 2)), "name": "crop"}},
        {"class": "UpSampling2D", "config": {"size": (2, 3), "name": "up"}},
        {
            "class": "Conv2D",
            "config": {"filters": 2, "kernel_size": (2, 2), "strides": 2, "name": "c2"},
            "weights": [rng.normal(0, 0.6, size=(2, 2, 3, 2)), rng.normal(0, 0.5, size=2)],
        },
        {"class": "Flatten", "config": {"name": "flat"}},
        {
            "class": "Dense",
            "config": {"units": 4, "name": "out"},
            "weights": [rng.normal(0, 0.3, size=(40, 4)), rng.normal(0, 0.5, size=4)],
        },
    ]


def layers_1d(rng: np.random.Generator) -> list[dict[str, Any]]:
    """(7, 3) -> pad -> conv -> crop -> upsample -> strided conv -> dense."""
    return [
        {"class": "ZeroPadding1D", "config": {"padding": (2, 1), "name": "zp"}},
        {
            "class": "Conv1D",
            "config": {"filters": 4, "kernel_size": 3, "name": "c1"},
            "weights": [rng.normal(0, 0.6, size=(3, 3, 4)), rng.normal(0, 0.5, size=4)],
        },
        {"class": "Cropping1D", "config": {"cropping": (1, 2), "name": "crop"}},
        {"class": "UpSampling1D", "config": {"size": 3, "name": "up"}},
        {
            "class": "Conv1D",
            "config": {"filters": 2, "kernel_size": 2, "strides": 2, "name": "c2"},
            "weights": [rng.normal(0, 0.6, size=(2, 4, 2)), rng.normal(0, 0.5, size=2)],
        },
        {"class": "Flatten", "config": {"name": "flat"}},
        {
            "class": "Dense",
            "config": {"units": 3, "name": "out"},
            "weights": [rng.normal(0, 0.3, size=(14, 3)), rng.normal(0, 0.5, size=3)],
        },
    ]


SHAPES = {"2d": (5, 6, 2), "1d": (7, 3)}
LAYERS = {"2d": layers_2d, "1d": layers_1d}


@pytest.fixture(scope="module", params=list(SHAPES))
def keras_model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, list[dict[str, Any]]]:
    kind = str(request.param)
    spec_ = LAYERS[kind](np.random.default_rng(31))
    path = keras_file(SHAPES[kind], spec_, tmp_path_factory.mktemp("k") / f"resample_{kind}.keras")
    return kind, path, spec_


def test_keras_float_mode_matches_keras(keras_model: tuple[str, Path, list]) -> None:
    keras = import_keras()
    kind, path, _ = keras_model
    model = hepinfer.compile(path, MODEL_LEVEL)
    ops = [n.op for n in model.graph.nodes]
    assert {Op.ZERO_PADDING, Op.CROPPING, Op.UPSAMPLING} <= set(ops)
    x = np.random.default_rng(1).normal(0, 2, size=(300, *SHAPES[kind]))
    ref = np.asarray(keras.models.load_model(path).predict(x.astype(np.float32), verbose=0))
    np.testing.assert_allclose(model.predict(x, mode="float"), ref, rtol=1e-5, atol=1e-5)


def test_keras2_json_reads_the_same_model() -> None:
    """Keras 2's JSON spelling (lists, `batch_input_shape`, a Sequential) gives the same graph."""
    rng = np.random.default_rng(2)
    kernel, bias = rng.normal(size=(3 * 5 * 2, 2)), rng.normal(size=2)
    layers: list[dict[str, Any]] = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4, 3, 2], "name": "i"}},
        {"class_name": "ZeroPadding2D", "config": {"name": "zp", "padding": [[1, 0], [2, 1]]}},
        {"class_name": "Cropping2D", "config": {"name": "crop", "cropping": [[1, 1], [0, 1]]}},
        {"class_name": "UpSampling2D", "config": {"name": "up", "size": [1, 1]}},
        {"class_name": "Flatten", "config": {"name": "flat"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "linear"}},
    ]
    graph = convert_config(
        {"class_name": "Sequential", "config": {"name": "s", "layers": layers}},
        lambda name: [kernel, bias] if name == "d" else [],
    )
    x = rng.normal(size=(20, 4, 3, 2))
    padded = np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0)))[:, 1:4, 0:5]
    want = padded.reshape(20, -1) @ kernel + bias
    got = hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float")
    np.testing.assert_allclose(got, want, rtol=1e-12)
    bad = {"class_name": "UpSampling2D", "config": {"name": "b", "interpolation": "bilinear"}}
    with pytest.raises(FrontendError, match="interpolation='nearest'"):
        convert_config(
            {"class_name": "Sequential", "config": {"name": "s", "layers": [layers[0], bad]}},
            lambda _name: [],
        )


def test_torch_modules_and_functions() -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.frontends.torch import from_torch_module

    class Net(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 3, 3)
            self.pad = torch.nn.ConstantPad2d((1, 2, 0, 1), 0.0)
            self.crop = torch.nn.ConstantPad2d((-1, 0, -1, -1), 0.0)
            self.up = torch.nn.Upsample(scale_factor=(2, 1), mode="nearest")
            self.up2 = torch.nn.UpsamplingNearest2d(scale_factor=2)
            self.pad1 = torch.nn.ConstantPad1d((2, -1), 0.0)
            self.up1 = torch.nn.Upsample(scale_factor=3)

        def forward(self, x: Any) -> Any:
            h = self.up(self.crop(self.pad(self.conv(x))))
            g = self.up2(self.conv(x))
            both = torch.cat([torch.flatten(h, 1), torch.flatten(g, 1)], dim=1)
            seq = self.up1(self.pad1(torch.squeeze(torch.unsqueeze(both, 1), 1).unsqueeze(1)))
            return torch.cat([seq, seq], dim=-1).squeeze(1)

    net = Net().eval()
    graph = from_torch_module(net, (2, 6, 5))
    ops = {n.op for n in graph.nodes}
    assert {Op.ZERO_PADDING, Op.CROPPING, Op.UPSAMPLING, Op.CONCAT, Op.RESHAPE} <= ops
    x = np.random.default_rng(3).normal(size=(50, 2, 6, 5))
    ref = net(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    ours = hepinfer.compile(graph, MODEL_LEVEL).predict(x, mode="float")
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(FrontendError, match="mode='nearest'"):
        from_torch_module(
            torch.nn.Sequential(torch.nn.UpsamplingBilinear2d(scale_factor=2)), (1, 3, 3)
        )
    with pytest.raises(FrontendError, match="value=0"):
        from_torch_module(torch.nn.Sequential(torch.nn.ConstantPad1d(1, 0.5)), (1, 3))


def test_csim_equals_emulator_and_estimate(
    keras_model: tuple[str, Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    kind, path, _ = keras_model
    model = hepinfer.compile(path, MIXED)
    x = np.random.default_rng(6).normal(0, 3, size=(300, *SHAPES[kind]))
    want = np.asarray(model.predict(x))
    for io_type in ("io_parallel", "io_stream"):
        for headers in ("xilinx", "hepinfer"):  # Xilinx's ap_types (skips if absent), our own
            if headers == "xilinx" and find_ap_types_headers() is None:
                continue
            ours = np.asarray(model.csim(x, io_type=io_type, headers=headers))
            np.testing.assert_array_equal(ours.reshape(len(x), -1), want)
    est = model.estimate()
    names = {layer.name for layer in est.layers}
    assert {"c1", "c2", "out"} <= names
    assert not set(WIRING) & names  # wiring: no resources, no cycles


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("config", [MODEL_LEVEL, MIXED], ids=["model", "mixed"])
def test_bit_exact_against_hls4ml(
    keras_model: tuple[str, Path, list], tmp_path: Path, config: dict[str, Any]
) -> None:
    kind, path, spec_ = keras_model
    x = np.random.default_rng(7).normal(0, 2, size=(2500, *SHAPES[kind]))
    theirs, trace = oracle(SHAPES[kind], spec_, x, tmp_path / "h", config, trace=True)
    model = hepinfer.compile(path, config)
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert int(np.count_nonzero(ours != theirs.reshape(len(x), -1))) == 0
    mine = model.trace(x[:300])
    for name in (*WIRING, "c1", "c2"):
        got = np.asarray(mine[name]).reshape(300, -1)
        assert int(np.count_nonzero(got != trace[name].reshape(300, -1))) == 0, name
