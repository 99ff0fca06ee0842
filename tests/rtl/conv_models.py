"""Small convolutional networks for the RTL tests (random weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Graph
from hepinfer.ir.op import Op
from tests.hls.onnx_models import conv2d


def conv1d_net(seed: int = 0) -> Graph:
    """(12, 2) -> Conv1D(4, k 3, padded 1/1) -> ReLU -> MaxPool(2) -> Conv1D(3, k 2, stride 2)
    -> GlobalMaxPool -> Dense(3).
    """
    rng = np.random.default_rng(seed)
    b = GraphBuilder("conv1d_net")
    x = b.input("x", (12, 2))
    w1 = {"kernel": rng.normal(size=(3, 2, 4)) * 0.6, "bias": rng.normal(size=4) * 0.3}
    c1 = b.add("conv1", Op.CONV1D, [x], {"pads": (1, 1), "strides": (1,)}, w1)
    r1 = b.add("relu1", Op.RELU, [c1])
    p1 = b.add("pool1", Op.MAXPOOL, [r1], {"pool": (2,), "strides": (2,), "pads": (0, 0)})
    w2 = {"kernel": rng.normal(size=(2, 4, 3)) * 0.6, "bias": rng.normal(size=3) * 0.3}
    c2 = b.add("conv2", Op.CONV1D, [p1], {"pads": (0, 0), "strides": (2,)}, w2)
    g = b.add("gpool", Op.GLOBAL_MAXPOOL, [c2])
    wd = {"kernel": rng.normal(size=(3, 3)) * 0.6, "bias": rng.normal(size=3) * 0.3}
    return b.build([b.add("dense", Op.DENSE, [g], weights=wd)])


def conv2d_net(path: Path) -> Path:
    """The HLS tests' Conv2D network (padding, stride 2, dilation, ReLU, Dense, softmax)."""
    return conv2d(path)
