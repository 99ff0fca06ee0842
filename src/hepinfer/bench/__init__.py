"""Benchmarks of Triton-protocol servers: perf_analyzer-style load and SONIC scaling scans.

Uses `hepinfer.client` and `hepinfer.protocol` only (gRPC), never the compiler or server.
"""

from __future__ import annotations

from hepinfer.bench.load import LoadOptions, concurrency_sweep, parse_range, rate_sweep
from hepinfer.bench.measure import Measurement
from hepinfer.bench.report import CSV_COLUMNS, format_csv, format_table, write_csv
from hepinfer.bench.scan import (
    QUICK,
    ScanOptions,
    ScanPoint,
    ScanResult,
    format_scan_table,
    plot_scan,
    scan,
    write_scan_csv,
)
from hepinfer.bench.target import ServerCounters, Target, parse_shapes

__all__ = [
    "CSV_COLUMNS",
    "QUICK",
    "LoadOptions",
    "Measurement",
    "ScanOptions",
    "ScanPoint",
    "ScanResult",
    "ServerCounters",
    "Target",
    "concurrency_sweep",
    "format_csv",
    "format_scan_table",
    "format_table",
    "parse_range",
    "parse_shapes",
    "plot_scan",
    "rate_sweep",
    "scan",
    "write_csv",
    "write_scan_csv",
]
