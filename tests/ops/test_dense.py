"""Dense fixed-point kernel against a scalar Python-integer model of hls4ml's dense_latency."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray
from hepinfer.ir import Node, NodePrecision, Op, TensorType
from hepinfer.ops.dense import SPEC


def _cast(m: int, src_frac: int, t: FixedType) -> int:
    """Scalar ap_fixed assignment for TRN/RND and WRAP/SAT (an independent reference)."""
    shift = src_frac - t.frac
    if shift > 0:
        if t.quant is Quant.RND:
            m = (m + (1 << (shift - 1))) >> shift
        else:
            m >>= shift
    else:
        m <<= -shift
    lo, hi = t.min_mantissa, t.max_mantissa
    if t.overflow is Overflow.SAT:
        return min(max(m, lo), hi)
    span = 1 << t.width
    return (m - lo) % span + lo


def reference(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, tx: FixedType, p: NodePrecision
) -> np.ndarray:
    assert p.weight
    assert p.bias
    assert p.accum
    assert p.result
    wm = [[int(v) for v in row] for row in p.weight.to_mantissa(w)]
    bm = [int(v) for v in p.bias.to_mantissa(b)]
    out = np.zeros((x.shape[0], w.shape[1]), dtype=np.int64)
    pfrac = tx.frac + p.weight.frac
    for s in range(x.shape[0]):
        xm = [int(v) for v in x[s]]
        for j in range(w.shape[1]):
            acc = _cast(bm[j], p.bias.frac, p.accum)
            for i in range(w.shape[0]):
                mult = _cast(xm[i] * wm[i][j], pfrac, p.accum)
                acc = _cast(acc + mult, p.accum.frac, p.accum)
            out[s, j] = _cast(acc, p.accum.frac, p.result)
    return out


CASES = [
    # (input, weight, bias, accum, result)
    ("ap_fixed<16,6>", "ap_fixed<16,6>", "ap_fixed<16,6>", "ap_fixed<16,6>", "ap_fixed<16,6>"),
    ("ap_fixed<10,4>", "ap_fixed<8,2>", "ap_fixed<8,3>", "ap_fixed<30,12>", "ap_fixed<12,5>"),
    (
        "ap_fixed<12,5>",
        "ap_fixed<8,1>",
        "ap_fixed<8,3>",
        "ap_fixed<14,5,AP_RND,AP_SAT>",
        "ap_fixed<10,4,AP_RND,AP_SAT>",
    ),
    ("ap_fixed<32,16>", "ap_fixed<32,16>", "ap_fixed<32,16>", "ap_fixed<32,16>", "ap_fixed<32,16>"),
    ("ap_fixed<40,16>", "ap_fixed<30,10>", "ap_fixed<16,6>", "ap_fixed<40,14>", "ap_fixed<24,10>"),
    ("ap_ufixed<8,4>", "ap_fixed<6,2>", "ap_fixed<6,2>", "ap_fixed<9,4>", "ap_fixed<7,3>"),
]


@pytest.mark.parametrize("types", CASES, ids=[c[3] for c in CASES])
def test_dense_matches_scalar_reference(types: tuple[str, ...]) -> None:
    tx, tw, tb, ta, tr = (FixedType.parse(t) for t in types)
    rng = np.random.default_rng(7)
    n_in, n_out = 9, 4
    w = rng.normal(0, 1.5, (n_in, n_out))
    b = rng.normal(0, 2, n_out)
    precision = NodePrecision(result=tr, accum=ta, weight=tw, bias=tb)
    node = Node(
        "fc", Op.DENSE, ("x",), TensorType((n_out,)), {}, {"kernel": w, "bias": b}, precision
    )
    x = FxArray.from_float(rng.normal(0, 3, (40, n_in)), tx)
    got = SPEC.run_fixed(node, [x])
    assert got.t == tr
    np.testing.assert_array_equal(got.m, reference(x.m, w, b, tx, precision))


def test_dense_float_kernel() -> None:
    w = np.arange(6.0).reshape(3, 2)
    node = Node("fc", Op.DENSE, ("x",), TensorType((2,)), {}, {"kernel": w, "bias": [1.0, 2.0]})
    out = SPEC.run_float(node, [np.array([[1.0, 0.0, -1.0]])])
    np.testing.assert_array_equal(out, [[1.0 - 4.0, 2.0 - 4.0]])
