"""Convolution and pooling kernels against plain-loop references (float and fixed point)."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir import Node, NodePrecision, Op, TensorType
from hepinfer.ops import spec
from hepinfer.ops.conv import same_pads
from tests.ops.test_dense import reference as dense_reference


def naive_cols(
    x: np.ndarray,
    k: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[int, ...],
    dil: tuple[int, int],
) -> tuple[np.ndarray, tuple[int, int]]:
    """im2col of (b, h, w, c) with explicit loops, zero padding, (kh, kw, c) order."""
    b, h, w, c = x.shape
    xp = np.zeros((b, h + pads[0] + pads[2], w + pads[1] + pads[3], c), dtype=x.dtype)
    xp[:, pads[0] : pads[0] + h, pads[1] : pads[1] + w] = x
    oh = (xp.shape[1] - (k[0] - 1) * dil[0] - 1) // stride[0] + 1
    ow = (xp.shape[2] - (k[1] - 1) * dil[1] - 1) // stride[1] + 1
    cols = np.zeros((b, oh, ow, k[0] * k[1] * c), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            for u in range(k[0]):
                for v in range(k[1]):
                    at = (u * k[1] + v) * c
                    cols[:, i, j, at : at + c] = xp[
                        :, i * stride[0] + u * dil[0], j * stride[1] + v * dil[1]
                    ]
    return cols, (oh, ow)


@pytest.mark.parametrize(
    ("stride", "pads", "dil"), [((1, 1), (1, 1, 1, 1), (1, 1)), ((2, 1), (0, 1, 2, 0), (1, 2))]
)
def test_conv2d_float_and_fixed(
    stride: tuple[int, int], pads: tuple[int, ...], dil: tuple[int, int]
) -> None:
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(3, 2, 3, 4)), rng.normal(size=4)
    types = NodePrecision(
        result=FixedType.parse("ap_fixed<12,5>"),
        accum=FixedType.parse("ap_fixed<14,6,AP_RND,AP_SAT>"),
        weight=FixedType.parse("ap_fixed<8,2>"),
        bias=FixedType.parse("ap_fixed<8,3>"),
    )
    attrs = {"strides": stride, "pads": pads, "dilations": dil}
    x = rng.normal(size=(5, 7, 6, 3))
    cols, (oh, ow) = naive_cols(x, (3, 2), stride, pads, dil)
    node = Node(
        "c",
        Op.CONV2D,
        ("x",),
        TensorType((oh, ow, 4)),
        attrs,
        {"kernel": kernel, "bias": bias},
        types,
    )
    assert spec(Op.CONV2D).shape(node, [TensorType((7, 6, 3))]) == (oh, ow, 4)
    expected = cols @ kernel.reshape(-1, 4) + bias
    np.testing.assert_allclose(spec(Op.CONV2D).run_float(node, [x]), expected, atol=1e-12)
    tx = FixedType.parse("ap_fixed<10,4>")
    fx = FxArray.from_float(x, tx)
    got = spec(Op.CONV2D).run_fixed(node, [fx])
    mcols, _ = naive_cols(fx.m, (3, 2), stride, pads, dil)
    want = dense_reference(
        mcols.reshape(-1, mcols.shape[-1]), kernel.reshape(-1, 4), bias, tx, types
    )
    np.testing.assert_array_equal(got.m.reshape(-1, 4), want)


def test_keras_same_padding() -> None:
    assert same_pads((10,), (4,), (1,)) == (1, 2)
    assert same_pads((9, 8), (3, 3), (2, 2)) == (1, 0, 1, 1)


def test_pooling_float_and_fixed() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5, 6, 2))
    t = FixedType.parse("ap_fixed<10,3>")
    precision = NodePrecision(
        result=FixedType.parse("ap_fixed<12,4>"), accum=FixedType.parse("ap_fixed<16,6>")
    )
    attrs = {"pool": (2, 2), "strides": (2, 2), "pads": (0, 0, 1, 0)}
    fx = FxArray.from_float(x, t)
    xq = fx.to_float()
    for op in (Op.MAXPOOL, Op.AVGPOOL):
        node = Node("p", op, ("x",), TensorType((3, 3, 2)), attrs, {}, precision)
        ref = np.zeros((4, 3, 3, 2))
        for i in range(3):
            for j in range(3):
                win = xq[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]  # bottom padding row ignored
                ref[:, i, j] = win.max(axis=(1, 2)) if op is Op.MAXPOOL else win.mean(axis=(1, 2))
        np.testing.assert_allclose(spec(op).run_float(node, [xq]), ref, atol=1e-12)
        got = spec(op).run_fixed(node, [fx]).to_float()
        # max is exact; average truncates at accum's 10 and result's 8 fractional bits
        tol = 0 if op is Op.MAXPOOL else 2.0**-10 + 2.0**-8
        np.testing.assert_allclose(got, ref, atol=tol)
    for op, fn in ((Op.GLOBAL_MAXPOOL, np.max), (Op.GLOBAL_AVGPOOL, np.mean)):
        node = Node("g", op, ("x",), TensorType((2,)), {}, {}, precision)
        np.testing.assert_allclose(
            spec(op).run_fixed(node, [fx]).to_float(), fn(xq, axis=(1, 2)), atol=2.0**-10 + 2.0**-8
        )
