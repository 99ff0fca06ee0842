"""Estimate results: per-layer and total resources, latency, II and utilisation; table, JSON
and a PNG bar plot.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.errors import EstimateError, MissingDependencyError
from hepinfer.estimate.parts import Part
from hepinfer.knobs import IOType

__all__ = ["RESOURCE_KEYS", "Estimate", "LayerEstimate", "Resources"]

RESOURCE_KEYS = ("dsp", "lut", "ff", "bram18k", "uram")


@dataclass(frozen=True)
class Resources:
    """FPGA resources: DSP slices, LUTs, flip-flops, 18 Kb block RAMs and UltraRAMs."""

    dsp: int = 0
    lut: int = 0
    ff: int = 0
    bram18k: int = 0
    uram: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.dsp + other.dsp,
            self.lut + other.lut,
            self.ff + other.ff,
            self.bram18k + other.bram18k,
            self.uram + other.uram,
        )

    def as_dict(self) -> dict[str, int]:
        """Resources keyed by `RESOURCE_KEYS`."""
        return {k: int(getattr(self, k)) for k in RESOURCE_KEYS}


@dataclass(frozen=True)
class LayerEstimate:
    """The estimate of one layer.

    ``latency_cycles`` and ``ii`` are the layer's own; the model total composes them (see
    `hepinfer.estimate.model`): ``comb_ns`` (unregistered logic delay at the layer's output),
    ``fixed_cycles``, ``registered`` and ``chainable`` drive the io_parallel composition,
    ``fill_cycles`` the io_stream (dataflow) one.
    """

    name: str
    op: str
    resources: Resources
    latency_cycles: int
    ii: int
    io_type: IOType = IOType.PARALLEL
    comb_ns: float = 0.0
    fixed_cycles: int = 0
    registered: bool = False
    chainable: bool = False
    fill_cycles: int = 0
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-ready)."""
        return {
            "name": self.name,
            "op": self.op,
            **self.resources.as_dict(),
            "latency_cycles": self.latency_cycles,
            "ii": self.ii,
            "io_type": self.io_type.value,
            "comb_ns": self.comb_ns,
            "fixed_cycles": self.fixed_cycles,
            "registered": self.registered,
            "chainable": self.chainable,
            "fill_cycles": self.fill_cycles,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerEstimate:
        """Inverse of `to_dict`."""
        return cls(
            name=str(data["name"]),
            op=str(data["op"]),
            resources=Resources(**{k: int(data[k]) for k in RESOURCE_KEYS}),
            latency_cycles=int(data["latency_cycles"]),
            ii=int(data["ii"]),
            io_type=IOType.parse(data.get("io_type", IOType.PARALLEL.value), "io_type"),
            comb_ns=float(data.get("comb_ns", 0.0)),
            fixed_cycles=int(data.get("fixed_cycles", 0)),
            registered=bool(data.get("registered", False)),
            chainable=bool(data.get("chainable", False)),
            fill_cycles=int(data.get("fill_cycles", 0)),
            details=dict(data.get("details", {})),
        )


@dataclass(frozen=True)
class Synthesised:
    """Cells of a real netlist beside the analytic estimate (the Verilog of `hepinfer.rtl`
    synthesised by Yosys `synth_xilinx`), and the RTL's latency in cycles.
    """

    tool: str
    lut: int
    ff: int
    dsp: int
    bram18k: int
    carry: int
    latency_cycles: int
    longest_path_cells: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Estimate:
    """Resources, latency and initiation interval of a whole model on one part.

    `synthesised`: the same model's Verilog after open synthesis, when it was run
    (`CompiledModel.estimate(synthesise=True)`), shown as its own row and bar group.
    """

    layers: tuple[LayerEstimate, ...]
    part: Part
    clock_period: float
    total: Resources
    latency_cycles: int
    ii: int
    warnings: tuple[str, ...] = ()
    synthesised: Synthesised | None = None
    tool: str = "vitis-2025"  # the HLS generation whose rules the estimate models

    @property
    def latency_ns(self) -> float:
        """Latency in nanoseconds at the target clock period."""
        return self.latency_cycles * self.clock_period

    @property
    def utilisation(self) -> dict[str, float]:
        """Share of each resource of the part used, in percent.

        A resource the part lacks (URAM on xcku115) reads 0 when unused, infinity when used.
        """
        capacity = self.part.capacity()
        used = self.total.as_dict()
        return {
            k: (100.0 * used[k] / capacity[k]) if capacity[k] else (math.inf if used[k] else 0.0)
            for k in RESOURCE_KEYS
        }

    @property
    def fits(self) -> bool:
        """True when no resource exceeds the part."""
        return all(v <= 100.0 for v in self.utilisation.values())

    # -- output forms -------------------------------------------------------------------

    def to_table(self) -> str:
        """A fixed-width text table: one row per layer, then the total and the utilisation."""
        head = ["layer", "op", "DSP", "LUT", "FF", "BRAM18K", "URAM", "latency", "II"]
        rows = [
            [
                lay.name,
                lay.op,
                *(f"{getattr(lay.resources, k):,}" for k in RESOURCE_KEYS),
                str(lay.latency_cycles),
                str(lay.ii),
            ]
            for lay in self.layers
        ]
        rows.append(
            [
                "total",
                "",
                *(f"{getattr(self.total, k):,}" for k in RESOURCE_KEYS),
                str(self.latency_cycles),
                str(self.ii),
            ]
        )
        util = self.utilisation
        rows.append(
            [
                f"% of {self.part.name}",
                "",
                *(f"{util[k]:.1f}%" if self.part.capacity()[k] else "-" for k in RESOURCE_KEYS),
                f"{self.latency_ns:g} ns",
                "",
            ]
        )
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

        def fmt(r: list[str]) -> str:
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
            cells += [c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=True)]
            return "  ".join(cells).rstrip()

        sep = "  ".join("-" * w for w in widths)
        lines = [fmt(head), sep, *(fmt(r) for r in rows[:-2]), sep, fmt(rows[-2]), fmt(rows[-1])]
        syn = self.synthesised
        if syn is not None:
            lines.append(
                f"synthesised ({syn.tool}): DSP {syn.dsp:,}, LUT {syn.lut:,}, FF {syn.ff:,}, "
                f"BRAM18K {syn.bram18k:,}, CARRY {syn.carry:,}; RTL latency "
                f"{syn.latency_cycles} cycles, longest path {syn.longest_path_cells} cells"
            )
        lines.append(
            f"clock {self.clock_period:g} ns; II {self.ii} cycles; modelled tool {self.tool}"
        )
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-ready); `from_dict` inverts it."""
        return {
            "part": self.part.to_dict(),
            "clock_period_ns": self.clock_period,
            "tool": self.tool,
            "latency_cycles": self.latency_cycles,
            "latency_ns": self.latency_ns,
            "ii": self.ii,
            "total": self.total.as_dict(),
            # null for a resource the part lacks but the design uses (strict JSON has no inf)
            "utilisation_percent": {
                k: (v if math.isfinite(v) else None) for k, v in self.utilisation.items()
            },
            "layers": [lay.to_dict() for lay in self.layers],
            "warnings": list(self.warnings),
            "synthesised": None if self.synthesised is None else self.synthesised.to_dict(),
        }

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """The estimate as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        """Rebuild an estimate from `to_dict` output."""
        try:
            return cls(
                layers=tuple(LayerEstimate.from_dict(d) for d in data["layers"]),
                part=Part.from_dict(data["part"]),
                clock_period=float(data["clock_period_ns"]),
                total=Resources(**{k: int(data["total"][k]) for k in RESOURCE_KEYS}),
                latency_cycles=int(data["latency_cycles"]),
                ii=int(data["ii"]),
                warnings=tuple(str(w) for w in data.get("warnings", ())),
                synthesised=(
                    Synthesised(**data["synthesised"]) if data.get("synthesised") else None
                ),
                tool=str(data.get("tool", "vitis-2025")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"estimate data is not in the form Estimate.to_dict writes: {exc!r}"
            raise EstimateError(msg) from exc

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> Estimate:
        """Rebuild an estimate from `to_json` text or a file holding it."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def plot(self, path: str | Path) -> Path:
        """Write a PNG: per-layer utilisation bars (DSP, LUT, FF, BRAM) and latency bars."""
        try:
            import matplotlib as mpl

            mpl.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            package, extra = "matplotlib", "compile"
            raise MissingDependencyError(package, extra, "Estimate.plot") from exc
        import numpy as np

        out = Path(path)
        names = [lay.name for lay in self.layers] + ["total"]
        capacity = self.part.capacity()
        keys = [k for k in ("dsp", "lut", "ff", "bram18k", "uram") if capacity[k]]
        x = np.arange(len(names))
        fig, (ax_res, ax_lat) = plt.subplots(
            2, 1, figsize=(max(6.0, 0.8 * len(names) + 3), 7), constrained_layout=True
        )
        width = 0.8 / len(keys)
        syn = self.synthesised
        if syn is not None:
            names.append(f"synthesised\n({syn.tool})")
            x = np.arange(len(names))
        for i, key in enumerate(keys):
            values = [100.0 * getattr(lay.resources, key) / capacity[key] for lay in self.layers]
            values.append(self.utilisation[key])
            if syn is not None:
                values.append(100.0 * getattr(syn, key, 0) / capacity[key])
            ax_res.bar(x + (i - (len(keys) - 1) / 2) * width, values, width, label=key.upper())
        ax_res.axhline(100.0, color="red", linewidth=1, linestyle="--")
        ax_res.set_ylabel(f"% of {self.part.name}")
        ax_res.set_xticks(x, names, rotation=30, ha="right")
        ax_res.legend(ncol=len(keys), fontsize="small")
        ax_res.set_title(
            f"hepinfer estimate: {self.latency_cycles} cycles "
            f"({self.latency_ns:g} ns at {self.clock_period:g} ns), II {self.ii}, {self.tool}"
        )
        lat = [lay.latency_cycles for lay in self.layers] + [self.latency_cycles]
        if syn is not None:
            lat.append(syn.latency_cycles)
        ax_lat.bar(x, lat, color="tab:gray")
        ax_lat.set_ylabel("latency (cycles)")
        ax_lat.set_xticks(x, names, rotation=30, ha="right")
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return out
