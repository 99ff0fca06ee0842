"""Autoscaling on queue time, as SuperSONIC does with KEDA: the signal and the decision.

SuperSONIC scales its Triton replicas on the mean time a request waits in the servers'
queues, from Prometheus::

    sum(rate(nv_inference_queue_duration_us[30s])) / (sum(rate(nv_inference_exec_count[30s])) * 1000)

(milliseconds). This module computes that expression from scrapes of the replicas' ``/metrics``
(`queue_time_ms`, with Prometheus' `rate` over a configurable window) and decides the number of
replicas the way KEDA's HorizontalPodAutoscaler does (`decide`): a proportional
recommendation ``ceil(current * metric / threshold)`` outside a tolerance band, stabilised over
a window per direction, limited per step and by a cooldown, clamped to [min, max]. Both are
pure functions of their inputs, so they are unit-tested without processes; `hepinfer.serve.
scaler` runs them against real replicas behind nginx.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hepinfer.errors import ServeError

QUEUE_METRIC = "nv_inference_queue_duration_us"
EXEC_METRIC = "nv_inference_exec_count"


@dataclass(frozen=True, slots=True)
class Scrape:
    """One replica's counters at one time (seconds on any monotonic clock)."""

    time_s: float
    queue_us: float
    exec_count: float


def parse_counters(text: str, model: str | None = None) -> tuple[float, float]:
    """(queue duration in µs, executions) summed over the models of a ``/metrics`` text.

    `model` keeps only the series labelled ``model="<model>"`` (SuperSONIC can filter on a
    model name the same way); None sums every model, as the plain expression does.
    """
    totals = {QUEUE_METRIC: 0.0, EXEC_METRIC: 0.0}
    wanted = None if model is None else f'model="{model}"'
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        if name not in totals:
            continue
        labels, _, value = rest.rpartition("}")
        if wanted is not None and wanted not in labels.split(","):
            continue
        try:
            totals[name] += float(value.split()[0])
        except (ValueError, IndexError) as exc:
            msg = f"metrics line {line!r} has no number after its labels; is this a /metrics page?"
            raise ServeError(msg) from exc
    return totals[QUEUE_METRIC], totals[EXEC_METRIC]


def rate(points: Sequence[tuple[float, float]], window_s: float, now_s: float) -> float | None:
    """Prometheus' ``rate(counter[window])`` of one series: (time, value) points in time order.

    The increase over the points inside ``(now - window, now]``, counter resets (a value
    lower than the one before: a restarted replica) counted as starting from 0, divided by
    the time between the first and last point. None with fewer than two points (Prometheus
    returns no sample). Prometheus also extrapolates to the window's edges; the ratio of two
    rates over the same points, which is what the queue-time expression uses, is the same.
    """
    inside = [(t, v) for t, v in points if now_s - window_s < t <= now_s]
    if len(inside) < 2:
        return None
    increase = 0.0
    for (_, before), (_, after) in itertools.pairwise(inside):
        increase += after - before if after >= before else after
    span = inside[-1][0] - inside[0][0]
    return increase / span if span > 0 else None


def queue_time_ms(
    series: Mapping[str, Sequence[Scrape]], window_s: float, now_s: float
) -> float | None:
    """SuperSONIC's expression over every replica's scrapes (one series per replica).

    ``sum(rate(queue_us)) / (sum(rate(exec_count)) * 1000)``; None where no series has two
    points in the window or nothing executed (Prometheus: no sample or NaN; KEDA's default
    ``ignoreNullValues`` turns that into 0, which `decide` does with None).
    """
    queue_rates: list[float] = []
    exec_rates: list[float] = []
    for scrapes in series.values():
        q = rate([(s.time_s, s.queue_us) for s in scrapes], window_s, now_s)
        e = rate([(s.time_s, s.exec_count) for s in scrapes], window_s, now_s)
        if q is not None and e is not None:
            queue_rates.append(q)
            exec_rates.append(e)
    executions = sum(exec_rates)
    if not exec_rates or executions <= 0:
        return None
    return sum(queue_rates) / (executions * 1000.0)


@dataclass(frozen=True)
class ScalePolicy:
    """When to scale, in KEDA / HorizontalPodAutoscaler terms (times in seconds).

    - `threshold_ms`: the target queue time (KEDA trigger ``threshold``, HPA target ``Value``);
    - `window_s`: the ``rate(...[window])`` range (30 s in SuperSONIC);
    - `tolerance`: no change while metric / threshold is within 1 +- tolerance (HPA: 0.1);
    - `up_stabilization_s` / `down_stabilization_s`: HPA ``behavior.scaleUp|scaleDown.
      stabilizationWindowSeconds``: scale up to the lowest, down to the highest
      recommendation of that window (a short spike or dip does not move replicas);
    - `max_step_up` / `max_step_down`: replicas added / removed at most per change (HPA
      ``Pods`` policies);
    - `cooldown_s`: no change until this long after the previous one (the policies'
      ``periodSeconds``; KEDA's ``cooldownPeriod`` is this for scaling to zero).
    """

    min_replicas: int = 1
    max_replicas: int = 4
    threshold_ms: float = 10.0
    window_s: float = 30.0
    tolerance: float = 0.1
    up_stabilization_s: float = 0.0
    down_stabilization_s: float = 300.0
    max_step_up: int = 2
    max_step_down: int = 1
    cooldown_s: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            msg = (
                f"replicas min {self.min_replicas} / max {self.max_replicas}: need 1 <= min <= max"
            )
            raise ServeError(msg)
        if not self.threshold_ms > 0 or not self.window_s > 0:
            msg = f"threshold {self.threshold_ms} ms and window {self.window_s} s must be positive"
            raise ServeError(msg)
        if self.max_step_up < 1 or self.max_step_down < 1:
            msg = f"steps up {self.max_step_up} / down {self.max_step_down} must be at least 1"
            raise ServeError(msg)
        for name in ("tolerance", "up_stabilization_s", "down_stabilization_s", "cooldown_s"):
            if getattr(self, name) < 0:
                msg = f"{name} {getattr(self, name)} must be 0 or more"
                raise ServeError(msg)


@dataclass(frozen=True, slots=True)
class ScaleState:
    """What `decide` remembers: recent recommendations and the time of the last change."""

    recommendations: tuple[tuple[float, int], ...] = ()
    last_change_s: float = -math.inf


@dataclass(frozen=True, slots=True)
class Decision:
    """The replicas wanted, the proportional recommendation before limits, and why."""

    replicas: int
    recommended: int
    reason: str
    state: ScaleState


def decide(
    policy: ScalePolicy, state: ScaleState, current: int, metric_ms: float | None, now_s: float
) -> Decision:
    """The HPA algorithm for one metric of type Value (KEDA's Prometheus trigger).

    No data (None) counts as 0 ms, as KEDA's ``ignoreNullValues`` does, so idle replicas
    scale in to `min_replicas`.
    """
    value = 0.0 if metric_ms is None else metric_ms
    ratio = value / policy.threshold_ms
    raw = current if abs(ratio - 1.0) <= policy.tolerance else math.ceil(current * ratio)
    raw = min(max(raw, policy.min_replicas), policy.max_replicas)
    horizon = max(policy.up_stabilization_s, policy.down_stabilization_s)
    recs = (*(r for r in state.recommendations if r[0] > now_s - horizon), (now_s, raw))
    up = min(n for t, n in recs if t > now_s - policy.up_stabilization_s or t == now_s)
    down = max(n for t, n in recs if t > now_s - policy.down_stabilization_s or t == now_s)
    if current < up:
        wanted, why = min(up, current + policy.max_step_up), "up"
    elif current > down:
        wanted, why = max(down, current - policy.max_step_down), "down"
    else:
        wanted, why = current, "hold"
    wanted = min(max(wanted, policy.min_replicas), policy.max_replicas)
    what = f"queue time {value:.3f} ms vs threshold {policy.threshold_ms:g} ms"
    if wanted != current and now_s - state.last_change_s < policy.cooldown_s:
        left = policy.cooldown_s - (now_s - state.last_change_s)
        return Decision(
            current, raw, f"{what}: {why} to {wanted} waits {left:.1f} s of cooldown",
            ScaleState(recs, state.last_change_s),
        )  # fmt: skip
    if wanted == current:
        return Decision(
            current, raw, f"{what}: hold at {current}", ScaleState(recs, state.last_change_s)
        )
    return Decision(wanted, raw, f"{what}: {why} {current} -> {wanted}", ScaleState(recs, now_s))


def prune(
    series: Mapping[str, Iterable[Scrape]], keep_s: float, now_s: float
) -> dict[str, list[Scrape]]:
    """The scrapes younger than `keep_s`; series left empty are dropped (gone replicas)."""
    kept = {k: [s for s in v if s.time_s > now_s - keep_s] for k, v in series.items()}
    return {k: v for k, v in kept.items() if v}
