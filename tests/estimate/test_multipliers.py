from __future__ import annotations

import numpy as np
import pytest

from hepinfer.estimate.multipliers import (
    MultiplierModel,
    ProductKind,
    csd_digits,
    effective_width,
)


def test_csd_digits() -> None:
    values = np.array([0, 1, -1, 2, 3, 5, 7, 11, 15, 1024, -96, 0b10101])
    # 3 = 4 - 1, 7 = 8 - 1, 11 = 8 + 4 - 1, 15 = 16 - 1, 96 = 64 + 32, 21 = 16 + 4 + 1
    assert csd_digits(values).tolist() == [0, 1, 1, 1, 2, 2, 2, 3, 2, 1, 2, 3]


def test_effective_width_strips_trailing_zeros_and_adds_sign() -> None:
    assert effective_width(np.array([0, 1, 12, -96, 255])).tolist() == [0, 2, 3, 3, 9]
    assert effective_width(np.array([255]), signed=False).tolist() == [8]


@pytest.mark.parametrize(
    ("a", "b", "slice_", "dsp"),
    [
        (16, 16, "dsp48e2", 1),
        (27, 18, "dsp48e2", 1),
        (26, 18, "dsp48e1", 2),
        (25, 18, "dsp48e1", 1),
        (28, 18, "dsp48e2", 2),
        (32, 32, "dsp48e2", 4),
        (18, 27, "dsp48e2", 1),
    ],
)
def test_dsp_tiles_follow_the_slice_shape(a: int, b: int, slice_: str, dsp: int) -> None:
    assert MultiplierModel(dsp_slice=slice_).dsp_tiles(a, b) == dsp


@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [
        (10, 10, ProductKind.LUT),
        (11, 10, ProductKind.DSP),
        (16, 4, ProductKind.LUT),
        (16, 5, ProductKind.DSP),
        (16, 16, ProductKind.DSP),
    ],
)
def test_narrow_products_go_to_luts(a: int, b: int, kind: ProductKind) -> None:
    cost = MultiplierModel().variable_product(a, b)
    assert cost.kind is kind
    assert (cost.dsp > 0) == (kind is ProductKind.DSP)
    assert (cost.lut > 0) == (kind is ProductKind.LUT)


def test_constant_products_classify_each_weight() -> None:
    weights = np.array([0, 0, 64, -8, 3, 96, 11, 1000, 1023])
    classes = MultiplierModel().constant_products(16, weights)
    assert classes[ProductKind.ZERO][0] == 2
    assert classes[ProductKind.SHIFT][0] == 2
    assert classes[ProductKind.SHIFT_ADD][0] == 3  # 3, 96, 1023 = 1024 - 1
    # 11 has a 5-bit odd part with sign: one operand <= 4 bits? no -> 16 x 5 -> DSP
    assert classes[ProductKind.DSP][0] == 2  # 11 and 1000 (= 8 * 125)
    assert sum(c for c, _, _ in classes.values()) == weights.size
