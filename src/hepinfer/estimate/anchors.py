"""Published synthesis results ("anchors") and the error of the estimate on each.

``anchors.yaml`` (next to this module) holds each anchor's model as layer descriptions, its
part and clock, the published figures, and their source. `check_anchors` estimates every
anchor and compares, metric by metric:

- ``dsp``: acceptance when within 15 %;
- ``latency_cycles``, ``ii``, per-layer latencies and ``bram18k``: within 20 % or 3;
- ``lut`` and ``ff``: reported only (no acceptance criterion).

A published ``[min, max]`` range counts as exact anywhere inside it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hepinfer.errors import EstimateError
from hepinfer.estimate.layers import (
    ActivationCost,
    BatchNormCost,
    ConvCost,
    DenseCost,
    ElementwiseCost,
    LayerCost,
    PoolCost,
)
from hepinfer.estimate.model import estimate_layers
from hepinfer.estimate.report import Estimate
from hepinfer.estimate.tools import tool_rules
from hepinfer.knobs import IOType, Strategy

__all__ = [
    "PUBLISHED",
    "Anchor",
    "AnchorCheck",
    "check_anchor",
    "check_anchors",
    "load_all_anchors",
    "load_anchors",
]

_TYPES: dict[str, Any] = {
    "dense": DenseCost,
    "conv": ConvCost,
    "activation": ActivationCost,
    "pool": PoolCost,
    "batchnorm": BatchNormCost,
    "elementwise": ElementwiseCost,
}
SHIPPED = ("anchors.yaml", "anchors_published.yaml")
PUBLISHED = "anchors_published.yaml"
SPLITS = ("fit", "holdout")
_ACCEPT = {"dsp": ("rel", 0.15, 0.0)}
_LATENCY_LIKE = ("rel", 0.20, 3.0)
_INFO = ("info", 0.0, 0.0)


@dataclass(frozen=True)
class Anchor:
    """One published synthesis result and the model it was obtained for."""

    id: str
    description: str
    source_url: str
    source_where: str
    part: str
    clock_period: float
    layers: tuple[LayerCost, ...]
    published: dict[str, Any]
    tool: str | None = None  # the HLS generation of the report (hepinfer.estimate.tools)
    split: str = "fit"  # "fit" or "holdout" (benchmarks/bench_estimate_cv.py)


@dataclass(frozen=True)
class AnchorCheck:
    """The estimate of one published metric and its error."""

    anchor: str
    metric: str
    published: tuple[float, float]
    estimate: float
    abs_error: float
    rel_error: float
    criterion: str
    ok: bool | None  # None: reported only

    @property
    def published_text(self) -> str:
        """The published value, or its range."""
        lo, hi = self.published
        return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def _sample(init: dict[str, Any], size: int, rng: np.random.Generator) -> np.ndarray:
    dist = init.get("distribution")
    if dist == "uniform":
        return rng.uniform(float(init["low"]), float(init["high"]), size)
    if dist == "normal":
        return rng.normal(float(init.get("mean", 0.0)), float(init["stddev"]), size)
    msg = f"weight_init distribution {dist!r} is unknown; use 'uniform' or 'normal'"
    raise EstimateError(msg)


def _build(entry: dict[str, Any], defaults: dict[str, Any], rng: np.random.Generator) -> Any:
    spec = {**defaults, **entry}
    kind = spec.pop("type")
    cls = _TYPES.get(kind)
    if cls is None:
        msg = f"anchor layer type {kind!r} is unknown; use one of {', '.join(_TYPES)}"
        raise EstimateError(msg)
    init = spec.pop("weight_init", None)
    allowed = set(cls.__dataclass_fields__)
    kwargs = {k: v for k, v in spec.items() if k in allowed}
    for key, knob in (("strategy", Strategy), ("io_type", IOType)):
        if key in kwargs:  # YAML spellings ("resource", "io_stream") -> the enums
            kwargs[key] = knob.parse(kwargs[key], f"anchor layer {spec.get('name')!r}: {key}")
    if init is not None:
        probe = cls(**kwargs)
        if isinstance(probe, DenseCost):
            size = probe.n_in * probe.n_out
        elif isinstance(probe, ConvCost):
            size = probe.kernel_size * probe.n_chan * probe.n_filt
        else:
            msg = f"weight_init given for a {kind} layer, which has no weights"
            raise EstimateError(msg)
        kwargs["weights"] = _sample(init, size, rng)
    return cls(**kwargs)


def _tool_of(item: dict[str, Any]) -> str | None:
    tool = item.get("tool")
    if tool is None:
        return None
    return tool_rules(str(tool)).name  # unknown names raise EstimateError here


def _split_of(item: dict[str, Any]) -> str:
    split = str(item.get("split", "fit"))
    if split not in SPLITS:
        msg = f"anchor {item.get('id')!r}: split {split!r} is unknown; use 'fit' or 'holdout'"
        raise EstimateError(msg)
    return split


def load_anchors(path: str | Path | None = None) -> list[Anchor]:
    """Read the anchors (default: the ``anchors.yaml`` shipped with the package).

    ``path`` may also name another file shipped with the package, such as
    ``"anchors_published.yaml"`` (`PUBLISHED`).
    """
    if path is None or str(path) in SHIPPED:
        name = "anchors.yaml" if path is None else str(path)
        text = resources.files("hepinfer.estimate").joinpath(name).read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    anchors = []
    for item in raw["anchors"]:
        rng = np.random.default_rng(int(item.get("seed", 0)))
        defaults = dict(item.get("defaults", {}))
        layers = tuple(_build(dict(e), defaults, rng) for e in item["layers"])
        anchors.append(
            Anchor(
                id=str(item["id"]),
                description=" ".join(str(item.get("description", "")).split()),
                source_url=str(item["source"]["url"]),
                source_where=" ".join(str(item["source"].get("where", "")).split()),
                part=str(item["part"]),
                clock_period=float(item["clock_period"]),
                layers=layers,
                published=dict(item["published"]),
                tool=_tool_of(item),
                split=_split_of(item),
            )
        )
    return anchors


def load_all_anchors() -> list[Anchor]:
    """Every shipped anchor: ``anchors.yaml`` then ``anchors_published.yaml``."""
    return load_anchors() + load_anchors(PUBLISHED)


def _range(value: Any) -> tuple[float, float]:
    if isinstance(value, list | tuple):
        return float(min(value)), float(max(value))
    return float(value), float(value)


def _compare(anchor: str, metric: str, published: Any, estimate: float) -> AnchorCheck:
    lo, hi = _range(published)
    below, above = estimate - lo, estimate - hi
    abs_error = below if estimate < lo else (above if estimate > hi else 0.0)
    ref = lo if estimate < lo else hi
    rel = abs_error / ref if ref else (0.0 if abs_error == 0 else math.inf)
    mode, rel_tol, abs_tol = _ACCEPT.get(
        metric, _INFO if metric in ("lut", "ff") else _LATENCY_LIKE
    )
    if mode == "info":
        return AnchorCheck(anchor, metric, (lo, hi), estimate, abs_error, rel, "reported", None)
    ok = abs(rel) <= rel_tol or abs(abs_error) <= abs_tol
    crit = f"±{rel_tol:.0%}" + (f" or ±{abs_tol:g}" if abs_tol else "")
    return AnchorCheck(anchor, metric, (lo, hi), estimate, abs_error, rel, crit, ok)


def check_anchor(anchor: Anchor) -> tuple[Estimate, list[AnchorCheck]]:
    """Estimate one anchor's model and compare every published metric."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = estimate_layers(
            anchor.layers, part=anchor.part, clock_period=anchor.clock_period, tool=anchor.tool
        )
    values = {**est.total.as_dict(), "latency_cycles": est.latency_cycles, "ii": est.ii}
    checks = []
    for metric, published in anchor.published.items():
        if metric == "layer_latency_cycles":
            by_name = {lay.name: lay.latency_cycles for lay in est.layers}
            for name, value in published.items():
                if name not in by_name:
                    msg = f"anchor {anchor.id!r}: published layer {name!r} is not in its model"
                    raise EstimateError(msg)
                checks.append(_compare(anchor.id, f"latency[{name}]", value, float(by_name[name])))
            continue
        if metric not in values:
            msg = f"anchor {anchor.id!r}: metric {metric!r} is not one the estimator gives"
            raise EstimateError(msg)
        checks.append(_compare(anchor.id, metric, published, float(values[metric])))
    return est, checks


def check_anchors(
    path: str | Path | None = None,
    anchors: list[Anchor] | None = None,
) -> list[tuple[Anchor, Estimate, list[AnchorCheck]]]:
    """Estimate and compare every anchor (of ``anchors``, else those read from ``path``)."""
    out = []
    for anchor in load_anchors(path) if anchors is None else anchors:
        est, checks = check_anchor(anchor)
        out.append((anchor, est, checks))
    return out
