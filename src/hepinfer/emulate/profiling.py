"""Numerical profiling: value ranges of weights and activations against what the chosen
fixed-point types can hold (hls4ml's `numerical()`), as a table and a PNG plot.

For every node: the range of its weights (if any) against the weight type, and the range of
its float activations on sample inputs against the result type; a row is flagged `OVERFLOW`
when values exceed the type's range and `UNDERFLOW` when the largest magnitude is below
the type's resolution (the value would quantise to zero); `SATURATES` marks values beyond
a saturating type's range (clipped, by design for e.g. a softmax input).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.fixed import FixedType, Overflow
from hepinfer.ir.graph import Graph


@dataclass(frozen=True)
class ProfileRow:
    """One profiled tensor: a node's weights or its activations."""

    node: str
    kind: str  # "weight" or "activation"
    lo: float
    hi: float
    abs_max: float
    type: FixedType | None
    abs_small: float = 0.0  # 1st percentile of the non-zero magnitudes

    @property
    def status(self) -> str:
        if self.type is None:
            return ""
        if self.lo < self.type.min or self.hi > self.type.max:
            return "OVERFLOW" if self.type.overflow is Overflow.WRAP else "SATURATES"
        if 0 < self.abs_max < self.type.eps:
            return "UNDERFLOW"
        return "ok"


def profile(graph: Graph, x: Any) -> list[ProfileRow]:
    """Rows for every node's weights and activations on inputs `x` (float reference)."""
    from hepinfer.emulate.run import emulate_float

    values = emulate_float(graph, x, trace=True)
    rows = []
    for node in graph.nodes:
        w = node.weights.get("kernel", node.weights.get("scale"))
        if w is not None:
            rows.append(_row(node.name, "weight", w, node.precision.weight))
        rows.append(_row(node.name, "activation", values[node.name], node.precision.result))
    return rows


def _row(name: str, kind: str, v: np.ndarray, t: FixedType | None) -> ProfileRow:
    mags = np.abs(v[v != 0])
    small = float(np.percentile(mags, 1)) if mags.size else 0.0
    return ProfileRow(name, kind, float(v.min()), float(v.max()), float(np.abs(v).max()), t, small)


def format_table(rows: list[ProfileRow]) -> str:
    """A fixed-width text table of the rows."""
    header = f"{'node':<28} {'tensor':<10} {'min':>11} {'max':>11} {'type':<34} {'type range':<24} status"
    lines = [header, "-" * len(header)]
    for r in rows:
        trange = "" if r.type is None else f"[{r.type.min:.4g}, {r.type.max:.4g}]"
        tname = "" if r.type is None else str(r.type)
        lines.append(
            f"{r.node:<28} {r.kind:<10} {r.lo:>11.4g} {r.hi:>11.4g} {tname:<34} {trange:<24} {r.status}"
        )
    return "\n".join(lines)


def plot(rows: list[ProfileRow], path: str | Path) -> Path:
    """Horizontal bars of |value| ranges (log2 scale) with the type's range as grey boxes."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
    labels = []
    for i, r in enumerate(rows):
        labels.append(f"{r.node} ({r.kind})")
        if r.type is not None:
            lo_t, hi_t = np.log2(r.type.eps), np.log2(max(abs(r.type.min), r.type.max))
            ax.barh(i, hi_t - lo_t, left=lo_t, color="0.85", height=0.8)
        if r.abs_max > 0:
            small = max(r.abs_small, r.abs_max * 2.0**-24)
            color = "tab:red" if r.status == "OVERFLOW" else "tab:blue"
            width = max(np.log2(r.abs_max) - np.log2(small), 0.05)
            ax.barh(i, width, left=np.log2(small), height=0.4, color=color)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("log2 |value| (blue: 1st percentile to max observed; grey: the type's range)")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
