"""Products HLS removes between pruned dense layers, and the II of their shared multipliers."""

from __future__ import annotations

import math
import warnings

import numpy as np

from hepinfer.estimate import ActivationCost, DenseCost, estimate_layers
from hepinfer.estimate.liveness import with_live_products
from hepinfer.knobs import IOType, Strategy

# a constant of many CSD digits: a real multiplier (a DSP product at 16 bits)
W = 0.3457031250


def _pair(**kw: object) -> tuple[DenseCost, ActivationCost, DenseCost]:
    a = np.full((2, 3), W)
    a[:, 2] = 0.0  # output 2 of the first layer is the constant relu(bias)
    b = np.full((3, 2), -W)
    b[1, :] = 0.0  # output 1 of the first layer is never read
    return (
        DenseCost(name="a", n_in=2, n_out=3, weights=a, **kw),  # type: ignore[arg-type]
        ActivationCost(name="relu", kind="relu", n=3),
        DenseCost(name="b", n_in=3, n_out=2, weights=b, **kw),  # type: ignore[arg-type]
    )


def test_unused_outputs_and_constant_inputs_lose_their_products() -> None:
    first, relu, second = with_live_products(_pair())
    assert isinstance(first, DenseCost)
    assert isinstance(second, DenseCost)
    assert relu.name == "relu"
    live_a = np.asarray(first.live).reshape(2, 3)
    live_b = np.asarray(second.live).reshape(3, 2)
    assert live_a[:, 0].all()
    assert not live_a[:, 1:].any()
    assert live_b[0].all()
    assert not live_b[1:].any()
    est = estimate_layers(_pair(), part="xcu250", tool="vivado-hls-2020")
    dsp = {lay.name: lay.resources.dsp for lay in est.layers}
    assert dsp["a"] == 2
    assert dsp["b"] == 2


def test_memory_weights_and_streams_keep_every_product() -> None:
    for kw in (
        {"strategy": Strategy.RESOURCE, "reuse_factor": 2},
        {"io_type": IOType.STREAM},
    ):
        layers = with_live_products(_pair(**kw))
        assert all(getattr(lay, "live", None) is None for lay in layers)


def test_shared_multipliers_set_the_ii_below_the_reuse_factor_in_vivado() -> None:
    kernel = np.full((4, 32), W)
    kernel[:, :16] = 0.0  # half pruned: hls4ml's multiplier_limit = 128/8 - 64 // 8 = 8
    kernel[:2, 16:20] = 0.25  # eight shifts: no multiplication
    layer = DenseCost(name="fc", n_in=4, n_out=32, weights=kernel, reuse_factor=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vivado = estimate_layers([layer], part="xc7z020", clock_period=25.0, tool="vivado-hls-2020")
        vitis = estimate_layers([layer], part="xc7z020", clock_period=25.0, tool="vitis-2024")
    lay = vivado.layers[0]
    assert lay.resources.dsp == 8
    uses = math.ceil((64 - 8) / 8)  # 56 multiplications on 8 multipliers
    assert lay.details["multiplier_uses"] == uses == vivado.ii < 8
    assert vitis.ii == 8  # no report shows Vitis below its PIPELINE II
