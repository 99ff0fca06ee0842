"""`FxArray`: int64 mantissas with their `FixedType`, exported from `hepinfer.fixed`."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.fixed import FixedType, FxArray
from hepinfer.fixed.array import align, product_type, sum_type


def test_from_float_quantises_and_to_float_is_exact() -> None:
    t = FixedType.parse("ap_fixed<8,3,AP_RND,AP_SAT>")
    a = FxArray.from_float([0.1, 5.0, -9.0], t)
    assert a.m.tolist() == [3, 127, -128]
    np.testing.assert_array_equal(a.to_float(), t.cast([0.1, 5.0, -9.0]))
    assert a.shape == (3,)


def test_cast_applies_the_target_modes_and_keeps_identity() -> None:
    t = FixedType.parse("ap_fixed<12,4>")
    a = FxArray.from_float([1.3, -2.7, 7.9], t)
    assert a.cast(t) is a
    narrow = FixedType.parse("ap_fixed<6,2,AP_RND,AP_SAT>")
    np.testing.assert_array_equal(a.cast(narrow).to_float(), narrow.cast(a.to_float()))


def test_exact_types_and_align() -> None:
    a, b = FixedType.parse("ap_fixed<8,3>"), FixedType.parse("ap_ufixed<6,2>")
    assert product_type(a, b) == FixedType(14, 5, True)
    assert sum_type(b, 4).signed
    assert align(np.array([3]), 2, 5).tolist() == [24]
    with pytest.raises(ValueError, match="align would drop bits"):
        align(np.array([3]), 5, 2)
