"""`Strategy`, `IOType`, `Engine`, `Mode`, `Headers`: one enum each, parsed from their
spellings only at the edge.
"""

from __future__ import annotations

import pytest

from hepinfer import config, estimate
from hepinfer.errors import ConfigError
from hepinfer.knobs import Engine, Headers, IOType, Mode, Strategy
from hepinfer.ops import cost


def test_the_enums_are_defined_once() -> None:
    assert config.Strategy is estimate.Strategy is cost.Strategy is Strategy
    assert config.IOType is estimate.IOType is cost.IOType is IOType


@pytest.mark.parametrize(
    ("text", "member"),
    [
        ("Latency", Strategy.LATENCY),
        ("resource", Strategy.RESOURCE),
        (" RESOURCE ", Strategy.RESOURCE),
        (Strategy.LATENCY, Strategy.LATENCY),
        ("io_stream", IOType.STREAM),
        ("IO_PARALLEL", IOType.PARALLEL),
        ("stream", IOType.STREAM),  # the member name
    ],
)
def test_parse_accepts_values_and_names_in_any_case(text: object, member: object) -> None:
    kind = type(member)
    assert kind.parse(text) is member  # type: ignore[attr-defined]


def test_parse_names_the_value_the_place_and_the_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"Model\.Strategy: 'fast' is not one of \['Latency', 'Resource'\]"
    ):
        Strategy.parse("fast", "Model.Strategy")
    with pytest.raises(
        ConfigError, match=r"'io_serial' is not one of \['io_parallel', 'io_stream'\]"
    ):
        IOType.parse("io_serial")


def test_members_write_as_hls4ml_spells_them() -> None:
    assert (str(Strategy.RESOURCE), str(IOType.STREAM)) == ("Resource", "io_stream")
    c = config.Config.from_dict({"Model": {"Strategy": "resource"}, "IOType": "IO_STREAM"})
    assert (c.model.strategy, c.io_type) == (Strategy.RESOURCE, IOType.STREAM)
    assert c.to_dict()["Model"]["Strategy"] == "Resource"
    assert c.to_dict()["IOType"] == "io_stream"


@pytest.mark.parametrize(
    ("text", "member"),
    [
        ("auto", Engine.AUTO),
        ("NumPy", Engine.NUMPY),
        (Engine.NATIVE, Engine.NATIVE),
        ("float", Mode.FLOAT),
        ("FIXED", Mode.FIXED),
        ("xilinx", Headers.XILINX),
        (" hepinfer", Headers.HEPINFER),
    ],
)
def test_emulator_and_csim_knobs_parse(text: object, member: object) -> None:
    assert type(member).parse(text) is member  # type: ignore[attr-defined]


def test_the_emulator_knobs_reach_the_code_as_enums() -> None:
    """`predict` takes a member or a spelling; inside, the engine in effect is the enum."""
    from hepinfer.emulate import native

    with native.use_engine(Engine.parse("numpy", "engine")):
        assert native.current_engine() is Engine.NUMPY
    with pytest.raises(ConfigError, match="engine: 'gpu' is not one of"):
        native.check_engine("gpu")
    with pytest.raises(ConfigError, match="headers: 'vivado' is not one of"):
        Headers.parse("vivado", "headers")
