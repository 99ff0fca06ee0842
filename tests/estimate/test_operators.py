"""Each knob moves the estimate in the right direction and by the right size."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from hepinfer.errors import EstimateError
from hepinfer.estimate import (
    ActivationCost,
    BatchNormCost,
    ConvCost,
    DenseCost,
    ElementwiseCost,
    IOType,
    PoolCost,
    ReuseFactorWarning,
    Strategy,
    UnrollLimitWarning,
    estimate_layers,
    valid_reuse_factors,
)
from hepinfer.estimate.layers import LayerCost
from hepinfer.estimate.report import Estimate

# The operator mechanisms below are those of the generic rules (no tool-specific register
# stages, pipelined dataflow); tests/estimate/test_tools.py checks each generation's rules.
GENERIC = "vivado-hls-2018"


def est(
    *layers: LayerCost, part: str = "xcvu13p", clock: float = 5.0, tool: str = GENERIC
) -> Estimate:
    return estimate_layers(layers, part=part, clock_period=clock, tool=tool)


def dense(**kw: object) -> DenseCost:
    args: dict[str, object] = {"name": "d", "n_in": 64, "n_out": 32, **kw}
    return DenseCost(**args)  # type: ignore[arg-type]


# -- reuse factor -------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", [Strategy.LATENCY, Strategy.RESOURCE])
def test_doubling_the_reuse_factor_halves_multipliers(strategy: Strategy) -> None:
    by_rf = {rf: est(dense(reuse_factor=rf, strategy=strategy)) for rf in (2, 4, 8, 16)}
    for rf in (2, 4, 8):
        assert by_rf[rf].total.dsp == 2 * by_rf[2 * rf].total.dsp
        assert by_rf[2 * rf].ii == 2 * by_rf[rf].ii == 2 * rf
        # RF more loop iterations; the per-iteration adder tree may lose a level or two
        grown = by_rf[2 * rf].latency_cycles - by_rf[rf].latency_cycles
        assert rf - 2 <= grown <= rf
    assert by_rf[2].total.dsp == 64 * 32 // 2


def test_reuse_factor_one_is_fully_parallel_and_fastest() -> None:
    rf1, rf4 = est(dense()), est(dense(reuse_factor=4))
    assert rf1.total.dsp == 64 * 32
    assert rf1.ii == 1
    assert rf1.latency_cycles < rf4.latency_cycles


def test_reuse_factor_above_products_is_clipped_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="exceeds its 8 products"):
        e = est(dense(n_in=4, n_out=2, reuse_factor=64, strategy=Strategy.RESOURCE))
    assert e.total.dsp == 1
    assert e.ii == 8


# -- strategy -----------------------------------------------------------------------------


def test_resource_strategy_stores_weights_in_bram() -> None:
    lat = est(dense(reuse_factor=4))
    res = est(dense(reuse_factor=4, strategy=Strategy.RESOURCE))
    assert lat.total.dsp == res.total.dsp == 64 * 32 // 4
    assert lat.total.bram18k == 0
    # 512 weights of 16 bits per row, 4 rows deep: 8192 bits wide -> 228 blocks of 36 bits
    assert res.total.bram18k == math.ceil(512 * 16 / 36)
    assert res.latency_cycles > lat.latency_cycles  # the BRAM read
    assert res.ii == lat.ii == 4


def test_resource_strategy_can_use_uram() -> None:
    e = est(dense(reuse_factor=4, strategy=Strategy.RESOURCE, weight_storage="uram"))
    assert e.total.bram18k == 0
    assert e.total.uram == math.ceil(512 * 16 / 72)


def test_pruning_saves_dsps_in_latency_strategy_only() -> None:
    for rf in (1, 2, 4):
        full = est(dense(reuse_factor=rf)).total.dsp
        pruned = est(dense(reuse_factor=rf, zero_fraction=0.5)).total.dsp
        zeros = 64 * 32 // 2
        assert pruned == math.ceil(64 * 32 / rf) - zeros // rf
        assert pruned == pytest.approx(full / 2, abs=1)
    res_full = est(dense(reuse_factor=4, strategy=Strategy.RESOURCE))
    res_pruned = est(dense(reuse_factor=4, strategy=Strategy.RESOURCE, zero_fraction=0.5))
    assert res_pruned.total.dsp == res_full.total.dsp  # zeros are stored and multiplied


def test_pruning_shortens_the_adder_tree() -> None:
    layer = {"n_in": 256, "n_out": 4}
    full = est(dense(**layer)).layers[0].details["tree_depth"]
    pruned = est(dense(**layer, zero_fraction=0.9)).layers[0].details["tree_depth"]
    assert full == math.ceil(math.log2(257)) == 9
    assert pruned == math.ceil(math.log2(27)) == 5


def test_explicit_zero_weights_are_removed_at_rf1() -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(1.0, 10.0, (64, 32))  # wide constants: one DSP each
    w[rng.random((64, 32)) < 0.7] = 0.0
    e = est(dense(weights=w))
    details = e.layers[0].details
    nonzero = int(np.count_nonzero(np.floor(w * 1024)))
    assert details["zero_weights"] == details["products_zero"] == 64 * 32 - nonzero
    # every non-zero product is a DSP unless its constant is a shift or a shift-add
    assert e.total.dsp == nonzero - details["products_shift"] - details["products_shift_add"]
    assert e.total.dsp > 0.9 * nonzero


def test_binary_ternary_and_power_of_two_weights_need_no_dsp() -> None:
    for kind in ("binary", "ternary", "po2"):
        assert est(dense(weight_kind=kind)).total.dsp == 0
        assert est(dense(weight_kind=kind, reuse_factor=4)).total.dsp == 0
    po2 = 2.0 ** np.random.default_rng(1).integers(-8, 3, (64, 32))
    assert est(dense(weights=po2)).total.dsp == 0


# -- precision ----------------------------------------------------------------------------


def test_precision_crossing_the_lut_threshold() -> None:
    narrow = est(dense(input=(10, 4), weight=(10, 4)))
    wide = est(dense(input=(11, 4), weight=(10, 4)))
    assert narrow.total.dsp == 0
    assert narrow.total.lut > 64 * 32 * 50  # about 0.55 * 10 * 10 LUT per product
    assert wide.total.dsp == 64 * 32
    assert est(dense(input=(16, 6), weight=(4, 1))).total.dsp == 0


def test_precision_crossing_the_dsp48e2_width() -> None:
    fits = est(dense(input=(27, 10), weight=(18, 4)))
    wider = est(dense(input=(28, 10), weight=(18, 4)))
    double = est(dense(input=(32, 16), weight=(32, 16)))
    assert fits.total.dsp == 64 * 32
    assert wider.total.dsp == 2 * 64 * 32
    assert double.total.dsp == 4 * 64 * 32


def test_dsp48e1_parts_split_earlier() -> None:
    layer = dense(n_in=4, n_out=8, input=(26, 10), weight=(18, 4))
    assert est(layer, part="xcvu9p").total.dsp == 32
    assert est(layer, part="xc7z020").total.dsp == 64


def test_narrow_constants_map_to_luts_and_shift_adds() -> None:
    w = np.full((64, 32), 3.0 / 1024)  # 3 = 4 - 1: one subtractor
    e = est(dense(weights=w))
    assert e.total.dsp == 0
    assert e.layers[0].details["products_shift_add"] == 64 * 32


# -- io type ------------------------------------------------------------------------------


def conv(**kw: object) -> ConvCost:
    args: dict[str, object] = {
        "name": "c",
        "in_height": 16,
        "in_width": 16,
        "n_chan": 3,
        "n_filt": 8,
        "filt_height": 3,
        "filt_width": 3,
        **kw,
    }
    return ConvCost(**args)  # type: ignore[arg-type]


def test_conv_io_parallel_vs_io_stream() -> None:
    par = est(conv())
    stream = est(conv(io_type=IOType.STREAM))
    assert par.ii == 14 * 14  # one output pixel per partition
    assert stream.ii == 16 * 16  # one input pixel per cycle
    assert par.total.dsp == stream.total.dsp == 27 * 8
    assert stream.total.lut > par.total.lut - 14 * 14 * 100  # line buffer, FIFO control
    rf2 = est(conv(io_type=IOType.STREAM, reuse_factor=3))
    assert rf2.ii == 3 * 16 * 16
    assert rf2.total.dsp == 27 * 8 // 3


def test_parallelization_factor_trades_dsps_for_ii() -> None:
    one = est(conv())
    seven = est(conv(parallelization_factor=7))
    assert seven.total.dsp == 7 * one.total.dsp
    assert seven.ii == one.ii // 7


def test_stream_layers_overlap_in_a_dataflow() -> None:
    layers = [
        conv(io_type=IOType.STREAM),
        ActivationCost(name="r", kind="relu", n=14 * 14 * 8, n_chan=8, io_type=IOType.STREAM),
        PoolCost(
            name="p",
            in_height=14,
            in_width=14,
            n_chan=8,
            pool_height=2,
            pool_width=2,
            io_type=IOType.STREAM,
        ),
    ]
    e = est(*layers)
    per_layer = [lay.latency_cycles for lay in e.layers]
    assert e.latency_cycles < sum(per_layer)
    assert e.latency_cycles >= max(per_layer)
    assert e.ii == max(lay.ii for lay in e.layers) == 256


def test_parallel_layers_add_up() -> None:
    layers = [
        dense(reuse_factor=4, strategy=Strategy.RESOURCE),
        dense(name="d2", n_in=32, n_out=16, reuse_factor=4, strategy=Strategy.RESOURCE),
    ]
    e = est(*layers)
    assert e.latency_cycles == sum(lay.latency_cycles for lay in e.layers)
    assert e.ii == 4


# -- clock, activations, other layers -----------------------------------------------------


def test_faster_clock_needs_more_cycles_but_less_time() -> None:
    slow = est(dense(n_in=100), clock=10.0)
    fast = est(dense(n_in=100), clock=2.5)
    assert fast.latency_cycles > slow.latency_cycles
    assert fast.latency_ns <= slow.latency_ns


def test_table_activations_use_one_bram_port_per_lookup() -> None:
    e = est(ActivationCost(name="s", kind="sigmoid", n=64))
    assert e.total.bram18k == 32
    assert e.latency_cycles == 2
    big = est(ActivationCost(name="s", kind="tanh", n=64, table_size=4096))
    assert big.total.bram18k == 4 * 32
    small = est(ActivationCost(name="s", kind="tanh", n=64, table_size=256, table_bits=8))
    assert small.total.bram18k == 0
    assert small.total.lut > 0


def test_relu_costs_no_cycle_and_softmax_one_dsp_per_class() -> None:
    assert est(ActivationCost(name="r", kind="relu", n=64)).latency_cycles == 0
    soft = est(ActivationCost(name="s", kind="softmax", n=10))
    assert soft.total.dsp == 10
    assert soft.total.bram18k > 0
    assert 5 <= soft.latency_cycles <= 8


def test_batchnorm_pool_and_merge_layers() -> None:
    bn = est(BatchNormCost(name="b", n=32))
    assert bn.total.dsp == 32
    bn_rf = est(BatchNormCost(name="b", n=32, reuse_factor=4))
    assert bn_rf.total.dsp == 8
    assert bn_rf.ii == 4
    pool = est(PoolCost(name="p", in_height=8, in_width=8, n_chan=4, pool_height=2, pool_width=2))
    assert pool.total.dsp == 0
    assert pool.total.lut == 16 * 4 * 3 * math.ceil(2.4 * 16)  # 3 compare-and-selects
    # combinational and inlined: only the io_parallel top's input register (and 2 control)
    assert pool.layers[0].resources.ff == 8 * 8 * 4 * 16 + 2
    assert est(ElementwiseCost(name="m", op="multiply", n=8)).total.dsp == 8
    assert est(ElementwiseCost(name="a", op="add", n=8)).total.dsp == 0
    assert est(ElementwiseCost(name="c", op="concatenate", n=8)).total.lut == 0


# -- Vivado's unroll limit ----------------------------------------------------------------


def test_unroll_limit_warning_for_large_latency_layers() -> None:
    with pytest.warns(UnrollLimitWarning, match="4,096-iteration unroll limit"):
        e = est(dense(n_in=128, n_out=64))
    assert any("unroll" in w for w in e.warnings)
    # the same layer with the Resource strategy at RF 2 unrolls 4096 products: allowed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est(dense(n_in=128, n_out=64, strategy=Strategy.RESOURCE, reuse_factor=2))
    # the Latency strategy unrolls every product whatever the reuse factor
    with pytest.warns(UnrollLimitWarning):
        est(dense(n_in=128, n_out=64, reuse_factor=2))


def _relu_after(c: ConvCost) -> ActivationCost:
    n = c.out_height * c.out_width * c.n_filt
    return ActivationCost(name="r", kind="relu", n=n, n_chan=c.n_filt, io_type=IOType.STREAM)


def test_stream_fifos_deeper_than_32_take_block_ram() -> None:
    deep_conv = conv(io_type=IOType.STREAM)  # 14 x 14 = 196 pixels per output channel
    shallow_conv = conv(io_type=IOType.STREAM, in_height=6, in_width=6)  # 16 pixels
    deep = est(deep_conv, _relu_after(deep_conv))
    shallow = est(shallow_conv, _relu_after(shallow_conv))
    assert deep.layers[0].resources.bram18k == 8  # one 18 Kb block per channel FIFO
    assert deep.total.bram18k == 8  # the relu writes the output port: no FIFO
    assert shallow.total.bram18k == 0
    assert est(conv()).total.bram18k == 0  # io_parallel: no FIFOs


def test_the_last_stream_layer_writes_the_output_port_not_a_fifo() -> None:
    c = conv(io_type=IOType.STREAM)
    alone = est(c).layers[0].resources
    inside = est(c, _relu_after(c)).layers[0].resources
    assert alone.bram18k == 0
    assert inside.bram18k == 8
    assert inside.lut > alone.lut
    assert inside.ff == alone.ff
    d = dense(n_in=1, n_out=64, io_type=IOType.STREAM)
    r = ActivationCost(name="r", kind="relu", n=64, io_type=IOType.STREAM)
    for tool, per_bit in (("vitis-2023", 1.0), ("vivado-hls-2020", 3.5)):
        two = est(d, r, tool=tool)
        one_fifo = math.ceil(per_bit * 64 * 16)
        assert two.layers[1].resources.lut == est(r, tool=tool).layers[0].resources.lut
        assert two.layers[0].resources.lut - est(d, tool=tool).layers[0].resources.lut == (one_fifo)


def test_encoded_convolution_reads_its_window_from_fifos() -> None:
    # hls4ml 0.5's encoded io_stream convolution: a FIFO per tap and channel, filt_height
    # output rows deep, read back in the iteration that writes it (one more stage)
    line = conv(io_type=IOType.STREAM, in_height=32, in_width=32)
    enc = conv(io_type=IOType.STREAM, in_height=32, in_width=32, implementation="encoded")
    a, b = est(line).layers[0], est(enc).layers[0]
    assert b.latency_cycles == a.latency_cycles + 1
    assert b.ii == a.ii == 32 * 32
    assert b.resources.bram18k == 3 * 3 * 3  # 27 FIFOs of 3 x 30 words: one block each
    assert a.resources.bram18k == 0  # the line buffer is shift registers
    small = conv(io_type=IOType.STREAM, in_height=6, in_width=6, implementation="encoded")
    assert est(small).total.bram18k == 0  # 12-word window FIFOs: shift registers
    with pytest.raises(EstimateError, match="implementation"):
        conv(implementation="systolic")


@pytest.mark.parametrize(
    ("slope", "zero_luts"),
    [(1.0, True), (0.0, False), (0.5, False), (-2.0, False), (0.3, False)],
)
def test_constant_slopes_are_built_from_their_value(slope: float, zero_luts: bool) -> None:
    def lut(kind: str, slope: float | None = None) -> int:
        return est(ActivationCost(name="a", kind=kind, n=64, slope=slope)).total.lut

    relu = lut("relu")
    assert relu == 64 * math.ceil(2.4 * 16)  # the generic (and Vitis) select
    got = lut("leaky_relu", slope)
    if zero_luts:
        assert got == 0  # x > 0 ? x : 1 * x is x
    elif slope == 0.0:
        assert got == relu == lut("prelu", slope)
    elif slope == 0.5:
        assert got == relu  # a shift is wiring
    else:  # a negation or a shift-and-add on top of the select
        assert relu < got <= lut("leaky_relu")


def test_one_adder_per_output_goes_into_the_dsp() -> None:
    # Dense(1 -> n): one DSP product plus the bias per output; the DSP's post-adder adds the
    # bias, so no adder LUTs remain (constants of many CSD digits: DSP products)
    w = np.full((1, 8), 0.7109375)  # 0.1011011 in binary: 5 digits, a DSP product
    one = est(dense(n_in=1, n_out=8, weights=w)).total
    assert one.dsp == 8
    assert one.lut == 0
    w4 = np.full((4, 8), 0.7109375)  # four products: three adders, one of them in the DSP
    four = est(dense(n_in=4, n_out=8, weights=w4)).total
    assert four.dsp == 32
    assert four.lut == 8 * 3 * 16


def test_valid_reuse_factors_follow_the_resource_kernel_rules() -> None:
    assert valid_reuse_factors(784, 128)[:6] == [1, 2, 4, 7, 8, 14]
    assert 112 in valid_reuse_factors(784, 128)
    assert 128 in valid_reuse_factors(128, 10)
    assert valid_reuse_factors(16, 5) == [1, 2, 4, 8, 16, 80]
    for rf in valid_reuse_factors(64, 32):
        assert (64 * 32) % rf == 0


def test_invalid_resource_reuse_factor_warns_with_the_closest_valid_one() -> None:
    with pytest.warns(ReuseFactorWarning, match="would use 2 "):
        est(dense(n_in=64, n_out=32, reuse_factor=3, strategy=Strategy.RESOURCE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est(dense(n_in=64, n_out=32, reuse_factor=3))  # Latency strategy: any factor


def test_the_io_parallel_top_registers_its_inputs_only_at_ii_1() -> None:
    pipelined = est(dense(n_in=64, n_out=32)).layers[0]
    assert pipelined.details["input_register_ff"] == 64 * 16 + 2
    looped = est(dense(n_in=64, n_out=32, strategy=Strategy.RESOURCE, reuse_factor=4))
    assert looped.ii == 4
    assert "input_register_ff" not in looped.layers[0].details
    streamed = est(dense(n_in=64, n_out=32, io_type=IOType.STREAM)).layers[0]
    assert "input_register_ff" not in streamed.details  # its input is a FIFO port
