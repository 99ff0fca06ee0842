"""Summaries of measurement windows: percentiles, averages, time breakdown, stability."""

from __future__ import annotations

import pytest

from hepinfer.bench.measure import Window, is_stable, summarize
from hepinfer.bench.target import Sample, ServerCounters


def _window(latencies_us: list[int], duration: float = 1.0) -> Window:
    samples = tuple(Sample(0, lat * 1000, 10_000, 5_000, True) for lat in latencies_us)
    server = ServerCounters(
        success_count=len(samples),
        inference_count=len(samples),
        queue_count=len(samples),
        queue_ns=len(samples) * 20_000,
        infer_count=len(samples),
        infer_ns=len(samples) * 30_000,
    )
    return Window(duration, samples, server)


def test_summarize_percentiles_and_breakdown() -> None:
    w = _window([*list(range(100, 200)), 5000])
    failed = Window(1.0, (Sample(0, 5, 1, 0, False),), ServerCounters())
    m = summarize([w, failed], mode="concurrency", setting=4, batch_size=2, trials=2, stable=True)
    assert m.requests == 101
    assert m.failures == 1
    assert m.duration_s == 2.0
    assert m.inferences_per_s == pytest.approx(101 * 2 / 2.0)
    assert (m.p50_us, m.p90_us, m.p99_us) == (150.0, 190.0, 199.0)
    assert m.client_send_us == 10
    assert m.client_recv_us == 5
    assert m.server_queue_us == 20
    assert m.server_compute_infer_us == 30
    assert m.network_us == pytest.approx(m.avg_latency_us - 10 - 5 - 20 - 30)


def test_network_time_never_negative() -> None:
    m = summarize(
        [_window([40])], mode="concurrency", setting=1, batch_size=1, trials=1, stable=False
    )
    assert m.network_us == 0.0


def test_is_stable() -> None:
    same = [_window([100] * 50) for _ in range(3)]
    assert is_stable(same, 10, 1)
    assert not is_stable(same[:2], 10, 1)
    slower = [*same[:2], _window([150] * 50)]
    assert not is_stable(slower, 10, 1)
    fewer = [*same[:2], _window([100] * 30)]
    assert not is_stable(fewer, 10, 1)
    assert is_stable(fewer, 60, 1)


def test_is_stable_on_a_percentile() -> None:
    # the same average latency (100 us) in every window, but a tail that moves: stable on the
    # average, not on p95; and the other way round
    tails = [_window([90] * 90 + [190] * 10), _window([95] * 90 + [145] * 10)]
    windows = [tails[0], tails[1], tails[0]]
    assert is_stable(windows, 10, 1)
    assert not is_stable(windows, 10, 1, percentile=95)
    assert is_stable(windows, 10, 1, percentile=50)
    shifted = [_window([100] * 95 + [300] * 5), _window([100] * 95 + [300] * 5)]
    slow_head = _window([140] * 50 + [100] * 45 + [300] * 5)
    assert not is_stable([*shifted, slow_head], 10, 1)
    assert is_stable([*shifted, slow_head], 10, 1, percentile=99)


def test_summarize_reports_the_percentile() -> None:
    w = _window(list(range(1, 101)))
    m = summarize(
        [w], mode="concurrency", setting=1, batch_size=1, trials=1, stable=False, percentile=80
    )
    assert m.percentile == 80
    assert m.percentile_us == 80.0
    plain = summarize([w], mode="concurrency", setting=1, batch_size=1, trials=1, stable=False)
    assert plain.percentile is None
    assert plain.percentile_us == 0.0
