"""What one measurement reports: throughput, latency percentiles, client and server times.

Definitions follow perf_analyzer's so the CSV columns mean the same:

- Inferences/Second: answered requests times the batch size, per second of the window.
- Client Send: encoding a request (numpy -> wire bytes); Client Recv: parsing its answer.
- Server Queue / Compute Input / Compute Infer / Compute Output: per-request averages of the
  model's ModelStatistics counters over the window (differences of two readings).
- Network+Server Send/Recv: the average latency minus all of the above (gRPC, the network,
  the server's front end), never below 0.
- p50 ... p99: latency percentiles of the answered requests (nearest rank); with
  --percentile P also pP, which then replaces the average in the stability rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hepinfer.bench.target import Sample, ServerCounters

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True, slots=True)
class Window:
    """The requests answered in one measurement window and the server's counter changes."""

    duration_s: float
    samples: tuple[Sample, ...]
    server: ServerCounters


@dataclass(frozen=True, slots=True)
class Measurement:
    """The result for one load setting (a concurrency or a request rate); times in µs."""

    mode: str
    setting: float
    duration_s: float
    requests: int
    failures: int
    inferences_per_s: float
    requests_per_s: float
    avg_latency_us: float
    p50_us: float
    p90_us: float
    p95_us: float
    p99_us: float
    client_send_us: float
    client_recv_us: float
    server_queue_us: float
    server_compute_input_us: float
    server_compute_infer_us: float
    server_compute_output_us: float
    network_us: float
    server_inferences_per_s: float
    trials: int
    stable: bool
    #: the latency percentile asked for (--percentile; None: the average is used)
    percentile: int | None = None
    #: that percentile's latency (0 when percentile is None)
    percentile_us: float = 0.0

    @property
    def percentiles_us(self) -> tuple[float, float, float, float]:
        """(p50, p90, p95, p99) latency."""
        return (self.p50_us, self.p90_us, self.p95_us, self.p99_us)


def _avg(ns: int, count: int) -> float:
    return ns / count / 1e3 if count > 0 else 0.0


def summarize(
    windows: Sequence[Window],
    *,
    mode: str,
    setting: float,
    batch_size: int,
    trials: int,
    stable: bool,
    percentile: int | None = None,
) -> Measurement:
    """Merge windows (the last, stable ones) into one Measurement."""
    samples = [s for w in windows for s in w.samples]
    ok = [s for s in samples if s.ok]
    duration = sum(w.duration_s for w in windows)
    server = ServerCounters()
    for w in windows:
        server = server + w.server
    if ok:
        lat = np.array([s.latency_ns for s in ok], dtype=np.float64) / 1e3
        pcts = [float(np.percentile(lat, q, method="inverted_cdf")) for q in PERCENTILES]
        chosen = (
            float(np.percentile(lat, percentile, method="inverted_cdf"))
            if percentile is not None
            else 0.0
        )
        avg = float(lat.mean())
        send = float(np.mean([s.send_ns for s in ok])) / 1e3
        recv = float(np.mean([s.recv_ns for s in ok])) / 1e3
    else:
        pcts, avg, send, recv, chosen = [0.0] * 4, 0.0, 0.0, 0.0, 0.0
    queue = _avg(server.queue_ns, server.queue_count)
    c_in = _avg(server.input_ns, server.input_count)
    c_inf = _avg(server.infer_ns, server.infer_count)
    c_out = _avg(server.output_ns, server.output_count)
    network = max(0.0, avg - send - recv - queue - c_in - c_inf - c_out) if ok else 0.0
    per_s = 1.0 / duration if duration > 0 else 0.0
    return Measurement(
        mode=mode,
        setting=setting,
        duration_s=duration,
        requests=len(ok),
        failures=len(samples) - len(ok),
        inferences_per_s=len(ok) * batch_size * per_s,
        requests_per_s=len(ok) * per_s,
        avg_latency_us=avg,
        p50_us=pcts[0],
        p90_us=pcts[1],
        p95_us=pcts[2],
        p99_us=pcts[3],
        client_send_us=send,
        client_recv_us=recv,
        server_queue_us=queue,
        server_compute_input_us=c_in,
        server_compute_infer_us=c_inf,
        server_compute_output_us=c_out,
        network_us=network,
        server_inferences_per_s=server.inference_count * per_s,
        trials=trials,
        stable=stable,
        percentile=percentile,
        percentile_us=chosen,
    )


def is_stable(
    windows: Sequence[Window], percentage: float, batch_size: int, percentile: int | None = None
) -> bool:
    """perf_analyzer's rule: the last 3 windows' throughput and latency (the average, or the
    `percentile` latency when given: --percentile) each lie within `percentage` % of their mean.
    """
    if len(windows) < 3:
        return False
    last = windows[-3:]
    throughput = []
    latency = []
    for w in last:
        ok = [s.latency_ns for s in w.samples if s.ok]
        if not ok:
            return False
        throughput.append(len(ok) * batch_size / w.duration_s)
        if percentile is None:
            latency.append(float(np.mean(ok)))
        else:
            latency.append(float(np.percentile(ok, percentile, method="inverted_cdf")))
    for values in (throughput, latency):
        mean = float(np.mean(values))
        if mean <= 0 or max(abs(v - mean) for v in values) > mean * percentage / 100:
            return False
    return True
