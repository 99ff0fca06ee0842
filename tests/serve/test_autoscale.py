"""The queue-time signal and the KEDA/HPA decision (`hepinfer.serve.autoscale`), as pure
functions of metric samples.
"""

from __future__ import annotations

import math

import pytest

from hepinfer.errors import ServeError
from hepinfer.serve.autoscale import (
    ScalePolicy,
    ScaleState,
    Scrape,
    decide,
    parse_counters,
    prune,
    queue_time_ms,
    rate,
)

METRICS = """# HELP nv_inference_exec_count Number of model executions performed
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{model="jet",version="1"} 40
nv_inference_exec_count{model="jet_dyn",version="1"} 2
# HELP nv_inference_queue_duration_us Cumulative inference queuing duration in microseconds
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{model="jet",version="1"} 1500
nv_inference_queue_duration_us{model="jet_dyn",version="1"} 7
nv_inference_count{model="jet",version="1"} 99
"""


def test_parse_counters_sums_models_or_keeps_one() -> None:
    assert parse_counters(METRICS) == (1507.0, 42.0)
    assert parse_counters(METRICS, model="jet") == (1500.0, 40.0)
    assert parse_counters(METRICS, model="other") == (0.0, 0.0)
    with pytest.raises(ServeError, match="no number"):
        parse_counters('nv_inference_exec_count{model="a"} x\n')


def test_rate_is_prometheus_rate_within_the_window() -> None:
    points = [(0.0, 0.0), (1.0, 10.0), (2.0, 30.0), (3.0, 60.0)]
    assert rate(points, window_s=10, now_s=3.0) == pytest.approx(20.0)
    # only (1, 10], (2, 30], (3, 60] are inside (0.5, 3]: 50 over 2 s
    assert rate(points, window_s=2.5, now_s=3.0) == pytest.approx(25.0)
    assert rate(points[:1], window_s=10, now_s=3.0) is None
    assert rate(points, window_s=0.5, now_s=3.0) is None
    # a counter reset (replica restarted) counts from zero: 10, 30, then 5 -> +20 +5
    assert rate([(0.0, 10.0), (1.0, 30.0), (2.0, 5.0)], 10, 2.0) == pytest.approx(12.5)


def _series(queue_per_s: float, exec_per_s: float, times: list[float]) -> list[Scrape]:
    return [Scrape(t, queue_per_s * t, exec_per_s * t) for t in times]


def test_queue_time_is_supersonics_expression() -> None:
    times = [float(t) for t in range(11)]
    # replica a: 100 executions/s queued 2 ms each; replica b: 300/s queued 0.5 ms each
    series = {"a": _series(100 * 2000, 100, times), "b": _series(300 * 500, 300, times)}
    expected = (100 * 2000 + 300 * 500) / ((100 + 300) * 1000)  # 0.875 ms
    assert queue_time_ms(series, window_s=5, now_s=10) == pytest.approx(expected)
    # one replica without two points in the window adds nothing
    series["c"] = [Scrape(10.0, 1e9, 1.0)]
    assert queue_time_ms(series, window_s=5, now_s=10) == pytest.approx(expected)
    # nothing executed: no value (Prometheus NaN)
    assert queue_time_ms({"a": _series(0, 0, times)}, 5, 10) is None
    assert queue_time_ms({}, 5, 10) is None


def test_prune_drops_old_points_and_gone_replicas() -> None:
    series = {"a": [Scrape(1, 0, 0), Scrape(9, 0, 0)], "gone": [Scrape(2, 0, 0)]}
    assert prune(series, keep_s=5, now_s=10) == {"a": [Scrape(9, 0, 0)]}


FAST = ScalePolicy(
    min_replicas=1,
    max_replicas=4,
    threshold_ms=10,
    window_s=30,
    up_stabilization_s=0,
    down_stabilization_s=0,
    cooldown_s=0,
)


def test_proportional_recommendation_limited_by_step_and_bounds() -> None:
    d = decide(FAST, ScaleState(), current=1, metric_ms=30, now_s=0)
    assert (d.recommended, d.replicas) == (3, 3)
    d = decide(FAST, ScaleState(), current=1, metric_ms=100, now_s=0)
    assert (d.recommended, d.replicas) == (4, 3)  # capped at max, then +2 per change
    assert "up 1 -> 3" in d.reason
    d = decide(FAST, ScaleState(), current=4, metric_ms=1000, now_s=0)
    assert d.replicas == 4
    d = decide(FAST, ScaleState(), current=4, metric_ms=1, now_s=0)
    assert (d.recommended, d.replicas) == (1, 3)  # -1 per change


def test_tolerance_band_holds() -> None:
    for metric in (9.1, 10.0, 10.9):
        assert decide(FAST, ScaleState(), 2, metric, 0).replicas == 2
    assert decide(FAST, ScaleState(), 2, 11.5, 0).replicas == 3


def test_no_data_counts_as_zero_and_scales_in_to_min() -> None:
    policy = ScalePolicy(min_replicas=2, max_replicas=4, down_stabilization_s=0, cooldown_s=0)
    d = decide(policy, ScaleState(), current=3, metric_ms=None, now_s=0)
    assert (d.recommended, d.replicas) == (2, 2)
    assert decide(policy, ScaleState(), 2, None, 0).replicas == 2


def test_cooldown_delays_the_next_change() -> None:
    policy = ScalePolicy(max_replicas=8, cooldown_s=30, down_stabilization_s=0)
    d = decide(policy, ScaleState(), 1, 30, now_s=100)
    assert d.replicas == 3
    d2 = decide(policy, d.state, 3, 60, now_s=110)
    assert d2.replicas == 3
    assert "cooldown" in d2.reason
    d3 = decide(policy, d2.state, 3, 60, now_s=131)
    assert d3.replicas == 5


def test_scale_down_waits_for_the_stabilization_window() -> None:
    """HPA scaleDown.stabilizationWindowSeconds: the highest recommendation of the window."""
    policy = ScalePolicy(max_replicas=4, down_stabilization_s=20, cooldown_s=0)
    state = ScaleState()
    d = decide(policy, state, 3, 10.0, now_s=0)  # in band: recommends 3
    assert d.replicas == 3
    replicas = []
    for t in range(1, 30):
        d = decide(policy, d.state, 3, 0.1, now_s=float(t))  # idle: recommends 1
        replicas.append(d.replicas)
    # the recommendation of 3 at t=0 holds until it leaves the 20 s window
    assert replicas[:19] == [3] * 19
    assert replicas[19] == 2


def test_scale_up_stabilization_needs_a_sustained_signal() -> None:
    policy = ScalePolicy(max_replicas=4, up_stabilization_s=5, down_stabilization_s=0, cooldown_s=0)
    d = decide(policy, ScaleState(), 1, 0.0, now_s=0)
    d = decide(policy, d.state, 1, 40.0, now_s=1)  # a spike: the window's lowest is 1
    assert d.replicas == 1
    for t in (2.0, 3.0, 4.0, 4.9):
        d = decide(policy, d.state, 1, 40.0, now_s=t)
        assert d.replicas == 1
    d = decide(policy, d.state, 1, 40.0, now_s=5.0)  # t=0's low recommendation has left
    assert d.replicas == 3


def test_policy_is_validated() -> None:
    with pytest.raises(ServeError, match="1 <= min <= max"):
        ScalePolicy(min_replicas=3, max_replicas=2)
    with pytest.raises(ServeError, match="must be positive"):
        ScalePolicy(threshold_ms=0)
    with pytest.raises(ServeError, match="at least 1"):
        ScalePolicy(max_step_up=0)
    with pytest.raises(ServeError, match="cooldown_s -1"):
        ScalePolicy(cooldown_s=-1)
    assert math.isinf(ScaleState().last_change_s)
