"""Prometheus metrics with Triton's exact ``nv_inference_*`` names and types.

Written directly in the Prometheus text format (prometheus_client would rename counters to
``*_total``, which Triton dashboards do not expect).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from hepinfer.serve.repository import ModelRepository
from hepinfer.serve.stats import ModelStats

#: (name, type, help, value of one model version's statistics)
METRICS: tuple[tuple[str, str, str, Callable[[ModelStats], int]], ...] = (
    (
        "nv_inference_request_success",
        "counter",
        "Number of successful inference requests, all batch sizes",
        lambda s: s.success.count,
    ),
    (
        "nv_inference_request_failure",
        "counter",
        "Number of failed inference requests, all batch sizes",
        lambda s: s.fail.count,
    ),
    (
        "nv_inference_count",
        "counter",
        "Number of inferences performed",
        lambda s: s.inference_count,
    ),
    (
        "nv_inference_exec_count",
        "counter",
        "Number of model executions performed",
        lambda s: s.execution_count,
    ),
    (
        "nv_inference_request_duration_us",
        "counter",
        "Cumulative inference request duration in microseconds",
        lambda s: (s.success.ns + s.fail.ns) // 1000,
    ),
    (
        "nv_inference_queue_duration_us",
        "counter",
        "Cumulative inference queuing duration in microseconds",
        lambda s: s.queue.ns // 1000,
    ),
    (
        "nv_inference_compute_input_duration_us",
        "counter",
        "Cumulative compute input duration in microseconds",
        lambda s: s.compute_input.ns // 1000,
    ),
    (
        "nv_inference_compute_infer_duration_us",
        "counter",
        "Cumulative compute inference duration in microseconds",
        lambda s: s.compute_infer.ns // 1000,
    ),
    (
        "nv_inference_compute_output_duration_us",
        "counter",
        "Cumulative inference compute output duration in microseconds",
        lambda s: s.compute_output.ns // 1000,
    ),
    (
        "nv_inference_pending_request_count",
        "gauge",
        "Instantaneous number of pending requests awaiting execution per-model.",
        lambda s: s.pending,
    ),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(repository: ModelRepository) -> str:
    """The metrics of every loaded model version in the Prometheus text format."""
    models = repository.loaded()
    for m in models:
        m.sync_stats()
    stats = [m.stats for m in models]
    lines: list[str] = []
    for name, kind, help_, value in METRICS:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(
            f'{name}{{model="{_escape(s.name)}",version="{_escape(s.version)}"}} {value(s)}'
            for s in stats
        )
    return "\n".join(lines) + "\n"


def build_metrics_app(repository: ModelRepository) -> web.Application:
    """An aiohttp app answering ``GET /metrics``."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=render(repository), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app
