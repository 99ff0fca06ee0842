"""A model's cumulative ModelStatistics counters, summed over its versions.

Shared by the client (server choice by queue time) and the benchmark tool (server-side time
breakdown per measurement window). Durations are in nanoseconds, as in the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelStatsTotals:
    """Counters of one model's ModelStatistics; subtract two snapshots for a window's share."""

    success_count: int = 0
    success_ns: int = 0
    inference_count: int = 0
    execution_count: int = 0
    queue_count: int = 0
    queue_ns: int = 0
    input_count: int = 0
    input_ns: int = 0
    infer_count: int = 0
    infer_ns: int = 0
    output_count: int = 0
    output_ns: int = 0

    @classmethod
    def from_proto(cls, response: Any) -> ModelStatsTotals:
        """Sum the counters of every version in a `ModelStatisticsResponse`."""
        totals = [0] * len(fields(cls))
        for st in response.model_stats:
            inf = st.inference_stats
            values = (
                inf.success.count,
                inf.success.ns,
                st.inference_count,
                st.execution_count,
                inf.queue.count,
                inf.queue.ns,
                inf.compute_input.count,
                inf.compute_input.ns,
                inf.compute_infer.count,
                inf.compute_infer.ns,
                inf.compute_output.count,
                inf.compute_output.ns,
            )
            totals = [a + b for a, b in zip(totals, values, strict=True)]
        return cls(*totals)

    @property
    def compute_ns(self) -> int:
        """Time spent computing: input + infer + output."""
        return self.input_ns + self.infer_ns + self.output_ns

    def __add__(self, other: ModelStatsTotals) -> ModelStatsTotals:
        return ModelStatsTotals(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )

    def __sub__(self, other: ModelStatsTotals) -> ModelStatsTotals:
        return ModelStatsTotals(
            *(getattr(self, f.name) - getattr(other, f.name) for f in fields(self))
        )
