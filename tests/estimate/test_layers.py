from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import EstimateError
from hepinfer.estimate.layers import (
    ActivationCost,
    BatchNormCost,
    ConvCost,
    DenseCost,
    ElementwiseCost,
    PoolCost,
)
from hepinfer.fixed import FixedType


def test_precisions_are_normalised() -> None:
    layer = DenseCost(name="d", n_in=4, n_out=2, input=(8, 3), weight="ap_fixed<6,1>")
    assert layer.input == FixedType(8, 3)
    assert layer.weight == FixedType(6, 1)
    assert layer.output is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_in": 0}, "n_in"),
        ({"reuse_factor": 0}, "reuse_factor"),
        ({"strategy": "fast"}, "strategy"),
        ({"io_type": "io_serial"}, "io_type"),
        ({"zero_fraction": 1.5}, "zero_fraction"),
        ({"weights": np.zeros(3)}, "weights have 3 values"),
    ],
)
def test_dense_validation_names_the_bad_value(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"name": "d", "n_in": 4, "n_out": 2, **kwargs}
    with pytest.raises(EstimateError, match=match):
        DenseCost(**args)  # type: ignore[arg-type]


def test_conv_output_shape_follows_keras() -> None:
    same = ConvCost(
        name="c",
        in_height=28,
        in_width=28,
        n_chan=3,
        n_filt=32,
        filt_height=4,
        filt_width=4,
        stride_height=4,
        stride_width=4,
        padding="same",
    )
    assert (same.out_height, same.out_width) == (7, 7)
    valid = ConvCost(
        name="c", in_height=32, in_width=32, n_chan=3, n_filt=16, filt_height=3, filt_width=3
    )
    assert (valid.out_height, valid.out_width) == (30, 30)
    conv1d = ConvCost(name="c", in_width=128, n_chan=4, n_filt=32, filt_width=3)
    assert (conv1d.out_height, conv1d.out_width, conv1d.kernel_size) == (1, 126, 3)
    with pytest.raises(EstimateError, match="does not fit"):
        ConvCost(name="c", in_width=2, n_chan=1, n_filt=1, filt_width=3)


def test_other_layers_validate() -> None:
    assert ActivationCost(name="a", kind="ReLU", n=4).kind == "relu"
    with pytest.raises(EstimateError, match="unknown"):
        ActivationCost(name="a", kind="swish", n=4)
    assert (
        PoolCost(
            name="p", in_width=30, in_height=30, n_chan=16, pool_width=2, pool_height=2
        ).out_width
        == 15
    )
    with pytest.raises(EstimateError, match="pooling op"):
        PoolCost(name="p", in_width=4, n_chan=1, pool_width=2, op="min")  # type: ignore[arg-type]
    with pytest.raises(EstimateError, match="elementwise op"):
        ElementwiseCost(name="e", op="divide", n=4)  # type: ignore[arg-type]
    assert BatchNormCost(name="b", n=8, scale=(10, 2)).scale == FixedType(10, 2)


def test_weights_do_not_take_part_in_equality() -> None:
    a = DenseCost(name="d", n_in=2, n_out=2, weights=np.ones(4))
    b = DenseCost(name="d", n_in=2, n_out=2, weights=np.zeros(4))
    assert a == b
    assert hash(a) == hash(b)
