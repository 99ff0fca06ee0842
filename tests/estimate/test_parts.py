from __future__ import annotations

import pytest

from hepinfer.errors import EstimateError
from hepinfer.estimate.parts import Part, get_part, list_parts

REQUIRED = ["xcu250", "xcu280", "xcu55c", "xcvu9p", "xcvu13p", "xcku115", "xc7z020"]


@pytest.mark.parametrize("alias", REQUIRED)
def test_required_parts_by_alias_and_full_name(alias: str) -> None:
    part = get_part(alias)
    assert get_part(part.name) == part
    assert get_part(alias.upper()) == part
    assert part.dsp > 0
    assert part.lut > 0
    assert part.ff == 2 * part.lut  # every AMD CLB has two flip-flops per LUT
    assert part.bram18k > 0


def test_known_totals_match_amd_product_tables() -> None:
    u250 = get_part("xcu250-figd2104-2L-e")
    assert (u250.dsp, u250.lut, u250.bram18k, u250.uram) == (12288, 1728000, 5376, 1280)
    z020 = get_part("xc7z020clg400-1")
    assert (z020.dsp, z020.lut, z020.ff, z020.bram18k) == (220, 53200, 106400, 280)
    assert z020.dsp_slice == "dsp48e1"
    assert get_part("xcku115").uram == 0
    assert get_part("xcku115").speed_scale > get_part("xcvu9p").speed_scale


def test_other_package_of_a_known_device_is_found() -> None:
    assert get_part("xcvu9p-flga2104-2L-e").name == "xcvu9p-flgb2104-2-e"


def test_unknown_part_lists_the_known_ones() -> None:
    with pytest.raises(EstimateError, match=r"not in the part database.*xcu250"):
        get_part("xc9999")


def test_part_dict_round_trip_and_listing() -> None:
    for part in list_parts():
        assert Part.from_dict(part.to_dict()) == part
    custom = Part("mine", "virtexuplus", 10, 100, 200, 4, 0)
    assert get_part(custom) is custom
