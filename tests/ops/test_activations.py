"""Activation kernels: tables follow hls4ml's ranges and sizes; simple ones are exact."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.fixed import FixedType
from hepinfer.fixed.array import FxArray
from hepinfer.ir import Node, NodePrecision, Op, TensorType
from hepinfer.ops import sigmoid, spec, tanh
from hepinfer.ops.lut import DIRECT_MAP_BITS, build_table, lookup_function, table_index

T16 = FixedType.parse("ap_fixed<16,6>")


def run(
    op: Op, x: np.ndarray, attrs: dict[str, float] | None = None, result: FixedType = T16
) -> tuple[np.ndarray, np.ndarray]:
    node = Node(
        "a",
        op,
        ("x",),
        TensorType(x.shape[1:]),
        attrs or {},
        {},
        NodePrecision(result=result, weight=T16),
    )
    fx = FxArray.from_float(x, T16)
    return spec(op).run_fixed(node, [fx]).to_float(), spec(op).run_float(node, [fx.to_float()])


@pytest.mark.parametrize(("op", "step"), [(Op.SIGMOID, 16 / 1024), (Op.TANH, 8 / 1024)])
def test_table_activations_within_one_table_step(op: Op, step: float) -> None:
    x = np.linspace(-10, 10, 4001)[None, :]
    fixed, ref = run(op, x)
    slope = 0.25 if op is Op.SIGMOID else 1.0
    # one table step of input (index truncates toward zero) plus the result's resolution
    assert np.abs(fixed - ref).max() <= slope * step + 2 * 2.0**-10
    assert np.unique(fixed).size > 300


def test_table_index_truncates_toward_zero_and_clips() -> None:
    x = FxArray.from_float(np.array([-9.0, -0.01, 0.0, 0.01, 0.0157, 7.99, 9.0]), T16)
    idx = table_index(x, 1024, 16.0)
    assert idx.tolist() == [0, 512, 512, 512, 513, 1023, 1023]


def test_relu_leaky_elu_hard_sigmoid() -> None:
    x = np.linspace(-6, 6, 97)[None, :]
    fixed, ref = run(Op.RELU, x)
    np.testing.assert_array_equal(fixed, ref)
    fixed, ref = run(Op.LEAKY_RELU, x, {"alpha": 0.125})
    np.testing.assert_array_equal(fixed, ref)  # alpha and inputs exact: products exact
    fixed, ref = run(Op.ELU, x, {"alpha": 1.0})
    assert np.abs(fixed - ref).max() <= 8 / 1024 + 2.0**-9
    fixed, ref = run(Op.HARD_SIGMOID, x, {"slope": 0.25, "shift": 0.5})
    np.testing.assert_array_equal(fixed, ref)


def test_softmax_implementations() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (500, 5))
    for impl in ("stable", "latency", "argmax"):
        node = Node(
            "s",
            Op.SOFTMAX,
            ("x",),
            TensorType((5,)),
            {"implementation": impl},
            {},
            NodePrecision(result=T16),
        )
        fx = FxArray.from_float(x, T16)
        out = spec(Op.SOFTMAX).run_fixed(node, [fx]).to_float()
        ref = spec(Op.SOFTMAX).run_float(node, [fx.to_float()])
        if impl == "argmax":
            np.testing.assert_array_equal(out, np.eye(5)[ref.argmax(1)])
        elif impl == "stable":
            # hls4ml's inverse table indexes the exponent sum by its top 10 of 18 bits
            assert np.abs(out - ref).max() < 0.25
            assert (out.argmax(1) == ref.argmax(1)).mean() > 0.97
        else:  # latency: exp(x) in ap_fixed<18,8> saturates at 128 for x > 4.85
            assert (out.argmax(1) == ref.argmax(1)).mean() > 0.9


@pytest.mark.parametrize(
    ("t_in", "result"),
    [
        ("ap_fixed<16,6>", "ap_fixed<16,6>"),
        ("ap_fixed<10,3,AP_RND,AP_SAT_SYM>", "ap_ufixed<8,1,AP_RND_CONV,AP_SAT>"),
        ("ap_ufixed<12,2>", "ap_fixed<6,2,AP_TRN,AP_WRAP>"),
        ("ap_fixed<24,10>", "ap_fixed<16,6>"),  # wider than DIRECT_MAP_BITS: indexed
    ],
)
def test_lookup_function_equals_the_table_read_and_cast(t_in: str, result: str) -> None:
    """The recurrent steps' table activation (one `take` from a map of every input mantissa,
    or the index per value for wide inputs) gives the bits of `table[table_index(x)]`
    assigned to the result type, on every mantissa of the input type (wide: a sample).
    """
    tin, tout, table_t = FixedType.parse(t_in), FixedType.parse(result), FixedType(18, 8)
    if tin.width <= DIRECT_MAP_BITS:
        m = np.arange(tin.min_mantissa, tin.max_mantissa + 1, dtype=np.int64)
    else:
        m = np.random.default_rng(3).integers(tin.min_mantissa, tin.max_mantissa + 1, 20_000)
    for fn, span in ((sigmoid._sigmoid32, sigmoid.SPAN), (tanh._tanh32, tanh.SPAN)):
        for size in (1024, 256):
            table = build_table(fn, size, span, table_t)
            want = tout.cast_mantissa(table[table_index(FxArray(m, tin), size, span)], table_t)
            got = lookup_function(fn, size, span, table_t, tin, tout)(m.reshape(-1, 4))
            np.testing.assert_array_equal(got.reshape(-1), want)
            assert np.unique(got).size > 4  # not a constant
