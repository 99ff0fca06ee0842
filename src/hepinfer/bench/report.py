"""perf_analyzer-compatible CSV and a readable table of Measurements.

The CSV header is perf_analyzer 2.41's (checked against `perf_analyzer -f`): the first column
is ``Concurrency`` or ``Request Rate``, times are whole microseconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from hepinfer.bench.measure import Measurement

CSV_COLUMNS = (
    "Inferences/Second",
    "Client Send",
    "Network+Server Send/Recv",
    "Server Queue",
    "Server Compute Input",
    "Server Compute Infer",
    "Server Compute Output",
    "Client Recv",
    "p50 latency",
    "p90 latency",
    "p95 latency",
    "p99 latency",
)
FIRST_COLUMN = {"concurrency": "Concurrency", "request_rate": "Request Rate"}


def _setting(m: Measurement) -> str:
    return str(int(m.setting)) if float(m.setting).is_integer() else f"{m.setting:g}"


def csv_rows(results: Sequence[Measurement]) -> list[list[str]]:
    """Header and one row per Measurement, as perf_analyzer writes them: rows in order of
    increasing inferences per second (perf_analyzer sorts its CSV so, not by setting).
    """
    mode = results[0].mode if results else "concurrency"
    rows = [[FIRST_COLUMN[mode], *CSV_COLUMNS]]
    for m in sorted(results, key=lambda m: m.inferences_per_s):
        times = (
            m.client_send_us,
            m.network_us,
            m.server_queue_us,
            m.server_compute_input_us,
            m.server_compute_infer_us,
            m.server_compute_output_us,
            m.client_recv_us,
            *m.percentiles_us,
        )
        rows.append([_setting(m), f"{m.inferences_per_s:g}", *(str(round(t)) for t in times)])
    return rows


def write_csv(results: Sequence[Measurement], path: Path) -> None:
    """Write the perf_analyzer-style CSV."""
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(csv_rows(results))


def format_csv(results: Sequence[Measurement]) -> str:
    """The CSV as a string."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(csv_rows(results))
    return buf.getvalue()


def format_table(results: Sequence[Measurement]) -> str:
    """A fixed-width summary: throughput, latency percentiles, time breakdown, failures."""
    mode = results[0].mode if results else "concurrency"
    head = (
        f"{FIRST_COLUMN[mode]:>12} {'infer/s':>10} {'p50 us':>9} {'p90 us':>9} {'p95 us':>9} "
        f"{'p99 us':>9} {'send':>6} {'net+srv':>8} {'queue':>8} {'compute':>8} {'recv':>6} "
        f"{'failed':>6} {'stable':>6}"
    )
    lines = [head]
    for m in results:
        compute = m.server_compute_input_us + m.server_compute_infer_us + m.server_compute_output_us
        lines.append(
            f"{_setting(m):>12} {m.inferences_per_s:>10.1f} {m.p50_us:>9.0f} {m.p90_us:>9.0f} "
            f"{m.p95_us:>9.0f} {m.p99_us:>9.0f} {m.client_send_us:>6.0f} {m.network_us:>8.0f} "
            f"{m.server_queue_us:>8.0f} {compute:>8.0f} {m.client_recv_us:>6.0f} "
            f"{m.failures:>6d} {'yes' if m.stable else 'no':>6}"
        )
    return "\n".join(lines)
