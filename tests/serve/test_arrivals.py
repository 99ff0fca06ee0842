"""Per-loop helpers for waits: the burst a front end takes, and the loop's descriptor."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hepinfer.serve import arrivals


def test_after_burst_runs_at_the_end_of_the_burst_in_order() -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        ran: list[str] = []
        arrivals.begin_burst(loop)
        arrivals.after_burst(loop, lambda: ran.append("first"))
        arrivals.after_burst(loop, lambda: ran.append("second"))
        assert ran == []  # not before the burst is taken
        arrivals.end_burst(loop)
        assert ran == ["first", "second"]  # in the same call, no loop iteration
        arrivals.end_burst(loop)  # once only
        return ran

    assert asyncio.run(scenario()) == ["first", "second"]


def test_after_burst_outside_a_burst_is_call_soon() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ran: list[str] = []
        arrivals.after_burst(loop, lambda: ran.append("soon"))
        assert ran == []
        await asyncio.sleep(0)
        assert ran == ["soon"]

    asyncio.run(scenario())


def test_a_failing_callback_is_logged_and_the_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail() -> None:
        msg = "boom"
        raise RuntimeError(msg)

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        ran: list[str] = []
        arrivals.begin_burst(loop)
        arrivals.after_burst(loop, fail)
        arrivals.after_burst(loop, lambda: ran.append("after"))
        arrivals.end_burst(loop)
        return ran

    with caplog.at_level(logging.ERROR, logger="hepinfer.serve.arrivals"):
        assert asyncio.run(scenario()) == ["after"]
    assert "boom" in caplog.text
