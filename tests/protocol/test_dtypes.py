"""Wire datatypes <-> numpy <-> model-config types."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import ProtocolError
from hepinfer.protocol.dtypes import (
    WIRE_TO_NUMPY,
    config_to_wire,
    numpy_dtype,
    wire_datatype,
    wire_to_config,
)


@pytest.mark.parametrize("name", sorted(set(WIRE_TO_NUMPY) - {"BF16"}))
def test_round_trip(name: str) -> None:
    assert wire_datatype(numpy_dtype(name)) == name
    assert config_to_wire(wire_to_config(name)) == name


def test_special_cases() -> None:
    assert wire_to_config("BYTES") == "TYPE_STRING"
    assert config_to_wire("TYPE_STRING") == "BYTES"
    assert wire_datatype(np.dtype("U3")) == "BYTES"
    assert wire_datatype(np.dtype(">f4")) == "FP32"
    assert numpy_dtype("BF16") == np.uint16


@pytest.mark.parametrize("bad", ["FP128", "fp32", ""])
def test_unknown_names(bad: str) -> None:
    with pytest.raises(ProtocolError, match="unknown tensor datatype"):
        numpy_dtype(bad)
    with pytest.raises(ProtocolError, match="unknown model-config data type"):
        config_to_wire(f"TYPE_{bad}X")


def test_numpy_without_wire_type() -> None:
    with pytest.raises(ProtocolError, match="complex64 has no KServe v2 datatype"):
        wire_datatype(np.dtype(np.complex64))
