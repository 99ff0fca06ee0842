"""Issue 13's Conv2D jet-image tagger against hls4ml 1.3's C simulation, layer by layer.

25x25x1 -> Conv2D(5, 3x3, stride 3, 'same') -> ReLU -> Conv2D(2, 5x5, stride 2, 'same') ->
ReLU -> Flatten -> Dense(10) ReLU -> Dense(5) softmax, no BatchNorm, model-level
`ap_fixed<16,6>`, random weights, jet-image-like inputs (sparse, positive, some above the
type's range so that the input cast wraps). Every traced layer output and every final output
must be equal bit for bit, in io_parallel and io_stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hepinfer
from hepinfer.ir.op import Op
from tests.ops.keras_oracle import MODEL_LEVEL, keras_file, oracle


def jet_layers(rng: np.random.Generator) -> list[dict[str, Any]]:
    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, size=shape)

    conv = {"padding": "same"}
    return [
        {
            "class": "Conv2D",
            "config": {"filters": 5, "kernel_size": 3, "strides": 3, **conv, "name": "c1"},
            "weights": [w(3, 3, 1, 5), w(5)],
        },
        {"class": "Activation", "config": {"activation": "relu", "name": "r1"}},
        {
            "class": "Conv2D",
            "config": {"filters": 2, "kernel_size": 5, "strides": 2, **conv, "name": "c2"},
            "weights": [w(5, 5, 5, 2), w(2)],
        },
        {"class": "Activation", "config": {"activation": "relu", "name": "r2"}},
        {"class": "Flatten", "config": {"name": "fl"}},
        {
            "class": "Dense",
            "config": {"units": 10, "activation": "relu", "name": "d1"},
            "weights": [w(50, 10), w(10)],
        },
        {
            "class": "Dense",
            "config": {"units": 5, "activation": "softmax", "name": "d2"},
            "weights": [w(10, 5), w(5)],
        },
    ]


def jet_images(rng: np.random.Generator, n: int) -> np.ndarray:
    hit = rng.random((n, 25, 25, 1)) < 0.3
    return np.where(hit, rng.exponential(3.0, size=hit.shape), 0.0)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras' own numpy 2 warnings
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_jet_image_conv2d_bit_exact_layer_by_layer(tmp_path: Path, io_type: str) -> None:
    rng = np.random.default_rng(13)
    layers = jet_layers(rng)
    x = jet_images(rng, 2000)
    assert x.max() > 32  # some pixels wrap in the input cast, on both sides
    theirs, trace = oracle((25, 25, 1), layers, x, tmp_path / "h", io_type=io_type, trace=True)
    model = hepinfer.compile(keras_file((25, 25, 1), layers, tmp_path / "jet.keras"), MODEL_LEVEL)
    convs = [n for n in model.graph.nodes if n.op is Op.CONV2D]
    assert [n.attrs["pads"] for n in convs] == [(1, 1, 1, 1), (2, 2, 2, 2)]
    ours = np.asarray(model.predict(x)).reshape(len(x), -1)
    assert ours.shape == theirs.shape == (2000, 5)
    assert int(np.count_nonzero(ours != theirs)) == 0
    ours_trace = model.trace(x[:300])
    assert {"c1", "r1", "c2", "r2", "d1", "d2"} <= set(trace)
    for name, values in trace.items():
        if name not in ours_trace:  # hls4ml's own inserted layers (io_stream zero padding)
            continue
        mine = np.asarray(ours_trace[name]).reshape(300, -1)
        assert int(np.count_nonzero(mine != values.reshape(300, -1))) == 0, name
    first = np.asarray(ours_trace["c1"])
    assert np.unique(first).size > 500  # the first convolution's outputs really vary
