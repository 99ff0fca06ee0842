"""The native Dense kernel gives the numpy emulator's bits (random types of every mode)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hepinfer.emulate import native
from hepinfer.errors import HepinferError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.knobs import Engine
from hepinfer.ops.dense import accumulate

pytestmark = pytest.mark.skipif(native.library() is None, reason="no C++ compiler here")


def _random_type(
    rng: np.random.Generator, max_width: int, quant: Quant, over: Overflow
) -> FixedType:
    width = int(rng.integers(2, max_width + 1))
    integer = int(rng.integers(-3, width + 4))
    return FixedType(width, integer, bool(rng.random() < 0.85), quant, over)


def _mantissas(rng: np.random.Generator, t: FixedType, shape: tuple[int, ...]) -> np.ndarray:
    m = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=shape, dtype=np.int64)
    m[rng.random(shape) < 0.2] = 0  # zero inputs are skipped by nothing but must sum right
    return m


def _numpy_layer(
    xm: np.ndarray,
    wm: np.ndarray,
    bias: np.ndarray,
    tx: FixedType,
    tw: FixedType,
    ta: FixedType,
    tr: FixedType | None,
) -> np.ndarray:
    with native.use_engine(Engine.NUMPY):
        acc = accumulate(xm, wm, tx, tw, ta, bias)
    return acc if tr is None else tr.cast_mantissa(acc, ta)


@pytest.mark.parametrize("over", list(Overflow))
@pytest.mark.parametrize("quant", list(Quant))
def test_random_layers_bit_exact(quant: Quant, over: Overflow) -> None:
    rng = np.random.default_rng([list(Quant).index(quant), list(Overflow).index(over)])
    ran = 0
    for case in range(12):
        narrow = case % 2 == 0  # int32 lanes for narrow types, int64 for wide ones
        tx = _random_type(rng, 16 if narrow else 30, Quant.TRN, Overflow.WRAP)
        tw = _random_type(rng, 16 if narrow else 30, Quant.TRN, Overflow.WRAP)
        ta = _random_type(rng, 28 if narrow else 60, quant, over)
        r_quant = list(Quant)[int(rng.integers(len(Quant)))]
        r_over = list(Overflow)[int(rng.integers(len(Overflow)))]
        tr = None if case % 3 == 0 else _random_type(rng, 20, r_quant, r_over)
        n_in, n_out, batch = int(rng.integers(1, 40)), int(rng.integers(1, 20)), 70
        xm = _mantissas(rng, tx, (batch, n_in))
        wm = _mantissas(rng, tw, (n_in, n_out))
        bias = _mantissas(rng, ta, (n_out,))
        if ta.overflow is Overflow.SAT_SYM and ta.signed and ta.width > 1:
            bias = np.maximum(bias, -ta.max_mantissa)  # a cast to SAT_SYM never gives the minimum
        got = native.dense(xm, wm, bias, (tx, tw, ta, tr))
        if got is None:
            assert native.plan(tx, tw, ta, tr) is None or not native.supports(
                [native.Layer(wm, bias, tx, tw, ta, tr)]
            )
            continue
        ran += 1
        want = _numpy_layer(xm, wm, bias, tx, tw, ta, tr)
        np.testing.assert_array_equal(got, want, err_msg=f"{tx} {tw} {ta} {tr}")
    assert ran >= 8


def _narrow_types(
    rng: np.random.Generator, quant: Quant, k: int
) -> tuple[FixedType, FixedType, FixedType]:
    """Input, weight and WRAP accumulator types of 2..16 bits whose product cast shifts by k."""

    def operand() -> FixedType:
        signed = bool(rng.random() < 0.8)
        width = int(rng.integers(2, 17 if signed else 16))
        return FixedType(width, int(rng.integers(-4, width + 5)), signed)

    tx, tw = operand(), operand()
    wa = int(rng.integers(2, 17))
    frac = tx.frac + tw.frac - k
    return tx, tw, FixedType(wa, wa - frac, bool(rng.random() < 0.85), quant, Overflow.WRAP)


def _extreme_mantissas(
    rng: np.random.Generator, t: FixedType, shape: tuple[int, ...]
) -> np.ndarray:
    m = _mantissas(rng, t, shape)
    pick = rng.random(shape)
    m[pick < 0.1] = t.min_mantissa
    m[(pick >= 0.1) & (pick < 0.2)] = t.max_mantissa
    return m


@pytest.mark.parametrize("quant", list(Quant))
def test_int16_lanes_bit_exact(quant: Quant) -> None:
    """The 16-bit lanes (WRAP accumulators of <= 16 bits, 2..16-bit inputs and weights): every
    quantisation for exact left shifts, TRN and RND for shifts of 1..15 bits (weights small
    enough for one multiply and the others), random result types of every mode, extreme /
    zero / negative values, batches around the tile size.
    """
    rng = np.random.default_rng([17, list(Quant).index(quant)])
    shifts = list(range(-12, 1)) if quant not in (Quant.TRN, Quant.RND) else list(range(-12, 16))
    for case, batch in enumerate([1, 7, 1024, 1025, 31, 33, 64, 65] * 3):
        k = shifts[case % len(shifts)] if case < len(shifts) else int(rng.choice(shifts))
        tx, tw, ta = _narrow_types(rng, quant, k)
        r_quant = list(Quant)[int(rng.integers(len(Quant)))]
        r_over = list(Overflow)[int(rng.integers(len(Overflow)))]
        tr = None if case % 4 == 0 else _random_type(rng, 16, r_quant, r_over)
        plan = native.plan(tx, tw, ta, tr)
        assert plan is not None, f"{tx} {tw} {ta} {tr}"
        assert (plan.lanes, plan.shift) == (16, k), f"{tx} {tw} {ta} {tr}"
        n_in, n_out = int(rng.integers(1, 70)), int(rng.integers(1, 40))
        xm = _extreme_mantissas(rng, tx, (batch, n_in))
        wm = _extreme_mantissas(rng, tw, (n_in, n_out))
        if case % 3 == 1:  # mostly small weights: most sums take the one-multiply path
            wm[rng.random(wm.shape) < 0.9] >>= tw.width // 2
        if case % 5 == 2:  # inputs and outputs without weights
            wm[:, : n_out // 2] = 0
            wm[: n_in // 2] = 0
        bias = _extreme_mantissas(rng, ta, (n_out,))
        got = native.dense(xm, wm, bias, (tx, tw, ta, tr))
        assert got is not None
        want = _numpy_layer(xm, wm, bias, tx, tw, ta, tr)
        np.testing.assert_array_equal(got, want, err_msg=f"{tx} {tw} {ta} {tr} batch {batch}")


def test_int16_lane_chain_equals_layer_by_layer() -> None:
    """A chain of int16-lane layers (int16 values passed between them; identity casts and
    ReLU in the lanes, other casts in int64) gives the layer-by-layer numpy bits.
    """
    rng = np.random.default_rng(29)
    for case in range(8):
        quant = Quant.TRN if case % 2 == 0 else Quant.RND
        dims = [int(v) for v in rng.integers(1, 40, size=4)]
        t_in = FixedType(16, int(rng.integers(2, 10)))
        layers = []
        tx = t_in
        for i, (a, b) in enumerate(itertools.pairwise(dims)):
            tw = FixedType(int(rng.integers(4, 17)), int(rng.integers(0, 4)))
            frac = tx.frac + tw.frac - int(rng.integers(-4, 16))  # a shift of -4..15 bits
            ta = FixedType(16, 16 - frac, True, quant, Overflow.WRAP)
            same = case % 4 < 2  # result and activation types equal to the accumulator's
            t_res = FixedType(
                int(rng.integers(6, 17)),
                int(rng.integers(2, 8)),
                True,
                Quant.RND_CONV,
                Overflow.SAT,
            )
            tr = ta if same else t_res
            t_act = None if i == len(dims) - 2 else (tr if same else FixedType(15, 5))
            wm = _extreme_mantissas(rng, tw, (a, b))
            wm[rng.random(wm.shape) < 0.7] >>= tw.width // 2
            layers.append(native.Layer(wm, _mantissas(rng, ta, (b,)), tx, tw, ta, tr, t_act))
            tx = t_act if t_act is not None else tr
        assert all(native.plan(x.tx, x.tw, x.ta, x.tr).lanes == 16 for x in layers)  # type: ignore[union-attr]
        x = _extreme_mantissas(rng, t_in, (1025, dims[0]))
        got = native.chain(x, layers)
        assert got is not None
        want = x
        for layer in layers:
            assert layer.tr is not None
            want = _numpy_layer(
                want, layer.weight, layer.bias, layer.tx, layer.tw, layer.ta, layer.tr
            )
            if layer.relu is not None:
                want = layer.relu.cast_mantissa(np.maximum(want, 0), layer.tr)
        np.testing.assert_array_equal(got, want, err_msg=f"case {case}")


def test_int16_lanes_only_where_exact() -> None:
    """Saturating or wider accumulators, other roundings of a shifted product and operands
    wider than int16 keep the int32 / int64 lanes.
    """
    t16 = FixedType.parse("ap_fixed<16,6>")
    assert native.plan(t16, t16, t16, t16).lanes == 16  # type: ignore[union-attr]
    others = [
        (t16, t16, FixedType.parse("ap_fixed<16,6,TRN,SAT>")),
        (t16, t16, FixedType.parse("ap_fixed<17,6>")),
        (t16, t16, FixedType.parse("ap_fixed<16,6,RND_CONV>")),
        (t16, t16, FixedType.parse("ap_fixed<16,6,TRN_ZERO>")),
        (FixedType.parse("ap_ufixed<16,6>"), t16, t16),
        (t16, FixedType.parse("ap_fixed<17,6>"), t16),
        (t16, t16, FixedType.parse("ap_fixed<16,16>")),  # a shift of 20 bits
    ]
    for tx, tw, ta in others:
        plan = native.plan(tx, tw, ta, None)
        assert plan is not None, (tx, tw, ta)
        assert plan.lanes in (32, 64), (tx, tw, ta)
    left = native.plan(t16, t16, FixedType.parse("ap_fixed<16,-6,RND_CONV>"), None)
    assert left is not None
    assert (left.lanes, left.shift) == (16, -2)  # an exact left shift: any rounding


def test_lanes_follow_bit_widths() -> None:
    t16 = FixedType.parse("ap_fixed<16,6>")
    plan = native.plan(t16, t16, t16, t16)
    assert plan is not None
    assert (plan.lanes, plan.shift, plan.res_shift) == (16, 10, 0)
    wide = FixedType.parse("ap_fixed<32,16>")
    assert native.plan(wide, wide, FixedType.parse("ap_fixed<60,20>"), wide).lanes == 64  # type: ignore[union-attr]
    assert native.plan(FixedType.parse("ap_fixed<40,8>"), wide, wide, None) is None  # > 62 bits
    sat_bits = FixedType(16, 6, True, Quant.TRN, Overflow.WRAP, 2)
    assert native.plan(t16, t16, sat_bits, None) is None


def test_chain_with_activations_equals_layer_by_layer() -> None:
    rng = np.random.default_rng(7)
    t_in = FixedType.parse("ap_fixed<12,4>")
    tw = FixedType.parse("ap_fixed<10,2,RND,SAT>")
    ta = FixedType.parse("ap_fixed<18,7,RND_CONV,SAT_SYM>")
    tr = FixedType.parse("ap_fixed<14,6,TRN_ZERO,WRAP>")
    t_act = FixedType.parse("ap_ufixed<9,4,RND_INF,SAT>")
    dims = [9, 17, 5, 3]
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        tx = t_in if i == 0 else t_act
        layers.append(
            native.Layer(
                _mantissas(rng, tw, (a, b)),
                _mantissas(rng, ta, (b,)).clip(-ta.max_mantissa),
                tx,
                tw,
                ta,
                tr,
                t_act if i < len(dims) - 2 else None,
                linear=i == 1,
            )
        )
    x = _mantissas(rng, t_in, (300, dims[0]))
    got = native.chain(x, layers)
    assert got is not None
    want = x
    for layer in layers:
        assert layer.tr is not None
        want = _numpy_layer(want, layer.weight, layer.bias, layer.tx, tw, ta, layer.tr)
        if layer.relu is not None:
            act = want if layer.linear else np.maximum(want, 0)
            want = layer.relu.cast_mantissa(act, layer.tr)
    np.testing.assert_array_equal(got, want)


def test_engine_names() -> None:
    with pytest.raises(HepinferError, match="engine: 'gpu' is not one of"):
        native.check_engine("gpu")
    with native.use_engine(Engine.NUMPY):
        assert native.current_engine() is Engine.NUMPY
        t16 = FixedType.parse("ap_fixed<16,6>")
        x = np.zeros((2, 3), dtype=np.int64)
        assert (
            native.dense(
                x, np.zeros((3, 2), np.int64), np.zeros(2, np.int64), (t16, t16, t16, None)
            )
            is None
        )
    assert native.instruction_set() in ("avx512", "avx2", "baseline")


def test_without_compiler_auto_falls_back_and_native_fails(tmp_path: Path) -> None:
    code = (
        "import numpy as np, hepinfer\n"
        "from hepinfer.errors import HepinferError\n"
        "from hepinfer.ir import Graph\n"
        "from hepinfer.fixed import FixedType\n"
        "from hepinfer.emulate import native\n"
        "t = FixedType.parse('ap_fixed<16,6>')\n"
        "x = np.ones((4, 3), np.int64)\n"
        "assert native.dense(x, x.T.copy(), np.zeros(4, np.int64), (t, t, t, None)) is None\n"
        "from hepinfer.knobs import Engine\n"
        "with native.use_engine(Engine.NATIVE):\n"
        "    try:\n"
        "        native.dense(x, x.T.copy(), np.zeros(4, np.int64), (t, t, t, None))\n"
        "    except native.NativeError as exc:\n"
        "        assert 'not found' in str(exc), exc\n"
        "    else:\n"
        "        raise SystemExit('engine=native did not fail')\n"
        "print('ok')\n"
    )
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"), "HEPINFER_CACHE": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


_ISA_NAMES = {"0": "baseline", "1": "avx2", "2": "avx512"}


@pytest.mark.skipif("HEPINFER_NATIVE_ISA" in os.environ, reason="already inside a capped run")
@pytest.mark.parametrize("cap", ["0", "1"])
def test_narrower_builds_give_the_same_bits(cap: str) -> None:
    """The baseline and AVX2 builds (what other CPUs run) pass this file's tests too."""
    if native.library() is None or int(native.library().hepinfer_native_isa()) < int(cap):  # type: ignore[union-attr]
        pytest.skip("this CPU cannot run that build")
    env = {**os.environ, "HEPINFER_NATIVE_ISA": cap}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout[-3000:]
    assert " passed" in out.stdout


def test_build_follows_the_cap() -> None:
    cap = os.environ.get("HEPINFER_NATIVE_ISA")
    if cap is None:
        pytest.skip("only meaningful with HEPINFER_NATIVE_ISA set")
    assert native.instruction_set() == _ISA_NAMES[cap]


def test_the_emulator_lends_the_kernel_to_ops_with_the_same_bits() -> None:
    """`ops.dense.accumulate` (convolutions' sums) gives numpy's bits with the emulator's
    runtime installed (native kernel, thread pool), and the kernel really ran there.
    """
    from hepinfer.emulate.run import EmulatorRuntime
    from hepinfer.ops import runtime

    rng = np.random.default_rng(11)
    tx, tw = FixedType.parse("ap_fixed<12,4>"), FixedType.parse("ap_fixed<10,2,RND,SAT>")
    ta = FixedType.parse("ap_fixed<20,9,RND_CONV,SAT>")
    xm, wm = _mantissas(rng, tx, (5000, 27)), _mantissas(rng, tw, (27, 8))
    bias = _mantissas(rng, ta, (8,))
    serial = accumulate(xm, wm, tx, tw, ta, bias)
    lent = EmulatorRuntime()
    assert lent.dense(xm, wm, bias, (tx, tw, ta, None)) is not None
    for engine in Engine:
        with native.use_engine(engine), runtime.installed(lent):
            np.testing.assert_array_equal(accumulate(xm, wm, tx, tw, ta, bias), serial)
