"""FixedPointQuantizer (HGQ2's per-element quantisers): the bit-exact kernel against the float
rule of HGQ2's `quantizers` package (SAT clips then rounds; WRAP rounds then wraps; pruned
elements are 0), the output type, the value range, the HLS lowering and the errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import hepinfer
from hepinfer.errors import GraphError, HlsError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.fixed.array import FxArray
from hepinfer.frontends.builder import GraphBuilder
from hepinfer.ir.graph import Node, TensorType
from hepinfer.ir.op import Op
from hepinfer.ops import fixed_point_quantizer as fpq
from hepinfer.ops import hook
from hepinfer.ops.bounds import Bounds

SHAPE = (3, 8)
INPUT = FixedType(20, 8)  # inputs on a 2**-12 grid in [-128, 128): finer than any quantiser


def _node(rng: np.random.Generator, rnd: str, sat: str, pruned: float = 0.2) -> Node:
    k = rng.integers(0, 2, SHAPE)
    i = rng.integers(-2, 5, SHAPE)
    f = rng.integers(-1, 7, SHAPE)
    f = np.where(rng.random(SHAPE) < pruned, -i - k, f)  # no bits at all
    b = GraphBuilder("q")
    x = b.input("x", SHAPE)
    attrs = {"round": rnd, "overflow": sat}
    out = b.add("q", Op.FIXED_POINT_QUANTIZER, [x], attrs, {"k": k, "i": i, "f": f})
    return b.node(out)


def _inputs(rng: np.random.Generator, n: int = 400) -> np.ndarray:
    wide = rng.normal(0.0, 6.0, (n, *SHAPE))
    ties = np.round(rng.normal(0.0, 4.0, (n, *SHAPE)) * 8) / 8 + 1 / 16  # rounding ties
    x = np.where(rng.random((n, *SHAPE)) < 0.3, ties, wide)
    return INPUT.cast(x)


@pytest.mark.parametrize("rnd", ["TRN", "RND"])
@pytest.mark.parametrize("sat", ["WRAP", "SAT", "SAT_SYM"])
def test_fixed_kernel_equals_hgq2_float_rule(rnd: str, sat: str) -> None:
    rng = np.random.default_rng(hash((rnd, sat)) % 2**32)
    node = _node(rng, rnd, sat)
    x = _inputs(rng)
    out = fpq.run_fixed(node, [FxArray.from_float(x, INPUT)])
    assert out.t == fpq.output_type(node)
    k, i, f = fpq.kif(node)
    # 1-bit signed SAT_SYM elements: HGQ2 clips to [0, 0], ap_fixed keeps -2**i (below)
    same = ~((k == 1) & (i + f == 0)) if sat == "SAT_SYM" else np.ones(SHAPE, dtype=bool)
    np.testing.assert_array_equal(out.to_float()[:, same], fpq.run_float(node, [x])[:, same])
    pruned = k + i + f <= 0
    assert pruned.any()
    assert np.all(out.to_float()[:, pruned] == 0.0)


def test_one_bit_signed_sat_sym_follows_ap_fixed_not_hgq2() -> None:
    """ap_fixed<1,I,AP_RND,AP_SAT_SYM> holds -2**(I-1) (Xilinx's headers; hls4ml's firmware
    computes it), where HGQ2's float rule clips to [0, 0]: the emulator follows the firmware.
    """
    b = GraphBuilder("q")
    x = b.input("x", (1,))
    w = {"k": np.ones(1), "i": np.zeros(1), "f": np.zeros(1)}
    node = b.node(
        b.add("q", Op.FIXED_POINT_QUANTIZER, [x], {"round": "RND", "overflow": "SAT_SYM"}, w)
    )
    xs = np.array([[-3.0], [-1.0], [0.0], [2.0]])
    fixed = fpq.run_fixed(node, [FxArray.from_float(xs, INPUT)]).to_float()
    assert fixed.ravel().tolist() == [-1.0, -1.0, 0.0, 0.0]
    assert fpq.run_float(node, [xs]).ravel().tolist() == [0.0, 0.0, 0.0, 0.0]


def test_each_element_is_cast_to_its_own_type() -> None:
    rng = np.random.default_rng(5)
    node = _node(rng, "RND", "WRAP", pruned=0.0)
    x = _inputs(rng, 50)
    got = fpq.run_fixed(node, [FxArray.from_float(x, INPUT)]).to_float()
    k, i, f = fpq.kif(node)
    for idx in np.ndindex(SHAPE):
        if k[idx] + i[idx] + f[idx] <= 0:
            continue  # pruned (kif() zeroes them): 0, checked above
        t = FixedType(int(k[idx] + i[idx] + f[idx]), int(k[idx] + i[idx]), bool(k[idx]))
        t = t.with_(quant=Quant.RND, overflow=Overflow.WRAP)
        np.testing.assert_array_equal(got[(slice(None), *idx)], t.cast(x[(slice(None), *idx)]))


def test_one_type_per_tensor_is_the_output_type_and_lowers_to_a_cast() -> None:
    b = GraphBuilder("q")
    x = b.input("x", (4,))
    w = {"k": np.ones(4), "i": np.full(4, 2), "f": np.full(4, 3)}
    node = b.node(b.add("q", Op.FIXED_POINT_QUANTIZER, [x], {"round": "RND", "overflow": "SAT"}, w))
    assert fpq.output_type(node) == FixedType(6, 3, True, Quant.RND, Overflow.SAT)
    lowering = fpq.hls(node, [TensorType((4,), INPUT)])
    assert lowering.kernel == "linear"


@pytest.mark.parametrize(
    ("rnd", "sat", "io_type", "headers"),
    [
        ("RND", "WRAP", "io_parallel", "xilinx"),
        ("TRN", "SAT_SYM", "io_stream", "hepinfer"),
    ],
)
def test_per_element_csim_equals_emulator(rnd: str, sat: str, io_type: str, headers: str) -> None:
    rng = np.random.default_rng(len(rnd + sat))
    node = _node(rng, rnd, sat)
    b = GraphBuilder("q")
    x = b.input("x", SHAPE)
    b.add("q", Op.FIXED_POINT_QUANTIZER, [x], dict(node.attrs), dict(node.weights))
    config = {"Model": {"Precision": "ap_fixed<14,6>"}, "IOType": io_type}
    compiled = hepinfer.compile(b.build(["q"]), config)
    assert (
        hook(Op.FIXED_POINT_QUANTIZER, "hls")(
            compiled.graph.node("q"), [compiled.graph.node("x").out]
        ).kernel
        == "fixed_quantizer"
    )
    xs = _inputs(rng, 300)
    fixed = np.asarray(compiled.predict(xs))
    np.testing.assert_array_equal(np.asarray(compiled.csim(xs, headers=headers)), fixed)
    assert len(np.unique(fixed)) > 50


def test_too_wide_for_the_kernel_is_an_hls_error_naming_the_node() -> None:
    b = GraphBuilder("q")
    x = b.input("x", (2,))
    w = {"k": np.ones(2), "i": np.array([2, 20]), "f": np.array([3, 20])}
    node = b.node(b.add("q", Op.FIXED_POINT_QUANTIZER, [x], {"round": "RND", "overflow": "SAT"}, w))
    with pytest.raises(HlsError, match=r"FixedPointQuantizer 'q'.*wider than 31 bits"):
        fpq.hls(node, [TensorType((2,), INPUT)])


def test_interval_holds_every_output() -> None:
    rng = np.random.default_rng(9)
    for sat in ("WRAP", "SAT_SYM"):
        node = _node(rng, "RND", sat)
        x = _inputs(rng)
        lo, hi = fpq.interval(node, [Bounds(x.min(axis=0), x.max(axis=0), INPUT)])
        y = fpq.run_float(node, [x])
        assert np.all(y >= lo)
        assert np.all(y <= hi)


@pytest.mark.parametrize(
    ("attrs", "match"),
    [
        ({"round": "RND_CONV", "overflow": "WRAP"}, "rounding 'RND_CONV'"),
        ({"round": "RND", "overflow": "WRAP_SM"}, "overflow 'WRAP_SM'"),
    ],
)
def test_unsupported_modes_are_refused_by_name(attrs: dict[str, str], match: str) -> None:
    b = GraphBuilder("q")
    x = b.input("x", (2,))
    w = {"k": np.ones(2), "i": np.ones(2), "f": np.ones(2)}
    node = b.node(b.add("q", Op.FIXED_POINT_QUANTIZER, [x], attrs, w))
    with pytest.raises(GraphError, match=match):
        fpq.run_float(node, [np.zeros((1, 2))])


@pytest.mark.parametrize("sat", ["WRAP", "SAT_SYM"])
def test_vectorised_kernel_equals_one_cast_per_type(sat: str) -> None:
    """The whole-tensor integer kernel (the HLS kernel's arithmetic) against one `FixedType`
    cast per element type, the rule it falls back to when int64 would not hold the shifts.
    """
    rng = np.random.default_rng(11)
    node = _node(rng, "RND", sat)
    for tin in (INPUT, FixedType(9, 2), FixedType(12, 12, False)):
        fx = FxArray.from_float(_inputs(rng, 100), tin)
        fast = fpq.run_fixed(node, [fx])
        slow = fpq._run_fixed_by_type(node, fx, fpq.output_type(node))
        assert fast.t == slow.t
        np.testing.assert_array_equal(fast.m, slow.m)
    wide = FixedType(60, 4)  # too wide for the shifts in int64: one cast per type
    x = np.clip(_inputs(rng, 10), -7.0, 7.0)
    by_type = fpq.run_fixed(node, [FxArray.from_float(x, wide)]).to_float()
    np.testing.assert_array_equal(
        by_type, fpq.run_fixed(node, [FxArray.from_float(x, INPUT)]).to_float()
    )
