"""FPGA part database: resource totals of AMD/Xilinx devices, for utilisation figures.

The data live in ``parts.yaml`` next to this module (loaded once with importlib.resources);
its header cites AMD's product tables for every number. Parts are looked up by their full
name (``xcu250-figd2104-2L-e``), by a short alias (``xcu250``, ``u250``), or by any full part
name that starts with a known device name (``xcvu9p-flga2104-2L-e`` finds ``xcvu9p``): the
resource totals depend on the die, not on the package or speed grade.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from hepinfer.errors import EstimateError

__all__ = ["Part", "get_part", "list_parts"]


@dataclass(frozen=True)
class Part:
    """One FPGA device: its resource totals, DSP slice kind and timing speed scale."""

    name: str
    family: str
    dsp: int
    lut: int
    ff: int
    bram18k: int
    uram: int
    dsp_slice: str = "dsp48e2"
    speed_scale: float = 1.0
    aliases: tuple[str, ...] = ()

    def capacity(self) -> dict[str, int]:
        """Resource totals keyed like `hepinfer.estimate.Resources` fields."""
        return {
            "dsp": self.dsp,
            "lut": self.lut,
            "ff": self.ff,
            "bram18k": self.bram18k,
            "uram": self.uram,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-ready)."""
        return {
            "name": self.name,
            "family": self.family,
            "dsp": self.dsp,
            "lut": self.lut,
            "ff": self.ff,
            "bram18k": self.bram18k,
            "uram": self.uram,
            "dsp_slice": self.dsp_slice,
            "speed_scale": self.speed_scale,
            "aliases": list(self.aliases),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Part:
        """Inverse of `to_dict`."""
        return cls(
            name=str(data["name"]),
            family=str(data["family"]),
            dsp=int(data["dsp"]),
            lut=int(data["lut"]),
            ff=int(data["ff"]),
            bram18k=int(data["bram18k"]),
            uram=int(data["uram"]),
            dsp_slice=str(data.get("dsp_slice", "dsp48e2")),
            speed_scale=float(data.get("speed_scale", 1.0)),
            aliases=tuple(str(a) for a in data.get("aliases", ())),
        )


@functools.cache
def _database() -> dict[str, Part]:
    text = resources.files("hepinfer.estimate").joinpath("parts.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    families: dict[str, dict[str, Any]] = raw["families"]
    parts: dict[str, Part] = {}
    for name, entry in raw["parts"].items():
        family = families[entry["family"]]
        parts[name] = Part(
            name=name,
            family=entry["family"],
            dsp=int(entry["dsp"]),
            lut=int(entry["lut"]),
            ff=int(entry["ff"]),
            bram18k=int(entry["bram18k"]),
            uram=int(entry["uram"]),
            dsp_slice=str(family["dsp_slice"]),
            speed_scale=float(family["speed_scale"]),
            aliases=tuple(entry.get("aliases", ())),
        )
    return parts


def list_parts() -> list[Part]:
    """Every part in the database, by full name."""
    return sorted(_database().values(), key=lambda p: p.name)


def get_part(part: str | Part) -> Part:
    """Look a part up by full name, alias, or a full name starting with a known device."""
    if isinstance(part, Part):
        return part
    key = part.strip().lower()
    db = _database()
    for candidate in db.values():
        names = {candidate.name.lower(), *(a.lower() for a in candidate.aliases)}
        if key in names:
            return candidate
    # A full part name with another package/speed grade: match on the device prefix.
    for candidate in db.values():
        device = candidate.aliases[0].lower() if candidate.aliases else candidate.name.lower()
        if key.startswith(device):
            return candidate
    known = ", ".join(p.aliases[0] if p.aliases else p.name for p in list_parts())
    msg = (
        f"FPGA part {part!r} is not in the part database; use one of: {known} "
        "(or pass a hepinfer.estimate.Part with its resource totals)"
    )
    raise EstimateError(msg)
