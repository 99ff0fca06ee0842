"""The cost records of `hepinfer.ops.cost`: type fields are FixedType, knobs are enums."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hepinfer.errors import EstimateError
from hepinfer.fixed import FixedType
from hepinfer.ops.cost import DenseCost, IOType, Strategy, as_fixed, fixed_or


@dataclass(frozen=True)
class FakeFixedType:
    """Like hls4ml's FixedPrecisionType: width, integer and signed attributes."""

    width: int
    integer: int
    signed: bool


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (FixedType(8, 3, False), FixedType(8, 3, False)),
        (12, FixedType(12, 12, True)),
        ((16, 6), FixedType(16, 6, True)),
        ((8, 0, False), FixedType(8, 0, False)),
        ("ap_fixed<16,6>", FixedType(16, 6, True)),
        ("ap_ufixed<8, 2>", FixedType(8, 2, False)),
        ("fixed<18,8,RND,SAT>", FixedType.parse("ap_fixed<18,8,AP_RND,AP_SAT>")),
        ("ap_int<8>", FixedType(8, 8, True)),
        ("ap_uint<4>", FixedType(4, 4, False)),
        (FakeFixedType(10, 4, True), FixedType(10, 4, True)),
    ],
)
def test_as_fixed_accepts_every_public_form(value: object, expected: FixedType) -> None:
    assert as_fixed(value) == expected


@pytest.mark.parametrize("value", ["float", "ap_fixed<16>", (1, 2, 3, 4), True, 0, 3.5, 100])
def test_as_fixed_rejects_with_an_error_naming_the_value(value: object) -> None:
    with pytest.raises(EstimateError, match=r"type .*" + repr(value)[:6].replace("(", r"\(")):
        as_fixed(value)


def test_fixed_or_falls_back_only_for_none() -> None:
    default = FixedType(16, 6)
    assert fixed_or(None, default) is default
    assert fixed_or("ap_fixed<8,3>", default) == FixedType(8, 3)


def test_records_store_fixed_types_and_keep_modes() -> None:
    layer = DenseCost(name="d", n_in=4, n_out=2, input=(8, 3), weight="ap_fixed<6,1,AP_RND>")
    assert layer.input == FixedType(8, 3)
    assert isinstance(layer.weight, FixedType)
    assert layer.weight == FixedType.parse("ap_fixed<6,1,AP_RND>")
    assert (layer.strategy, layer.io_type) == (Strategy.LATENCY, IOType.PARALLEL)


@pytest.mark.parametrize(("field", "value"), [("strategy", "resource"), ("io_type", "io_stream")])
def test_records_take_enums_not_strings(field: str, value: str) -> None:
    kind = Strategy if field == "strategy" else IOType
    with pytest.raises(EstimateError, match=rf"{field} = '{value}' is not a {kind.__name__}"):
        DenseCost(name="d", n_in=4, n_out=2, **{field: value})  # type: ignore[arg-type]
    layer = DenseCost(name="d", n_in=4, n_out=2, **{field: kind.parse(value)})  # type: ignore[arg-type]
    assert getattr(layer, field) is kind.parse(value)
