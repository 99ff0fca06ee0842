"""ServerPool's choice: healthy first, then lowest recent queue time, then fewest in flight."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hepinfer.client import ClientOptions
from hepinfer.client.pool import ServerPool
from hepinfer.errors import ClientError


@pytest.fixture
def pool(dead_url: str) -> Iterator[ServerPool]:
    # three addresses where nothing listens; health is then set by hand
    urls = (dead_url, "127.0.0.1:1", "127.0.0.1:2")
    opts = ClientOptions("m", servers=urls, health_interval_s=0, health_timeout_s=0.2)
    pool = ServerPool(opts)
    yield pool
    pool.close()


def test_prefers_low_queue_time_then_few_in_flight(pool: ServerPool) -> None:
    a, b, c = pool.connections
    for conn, queue_us in ((a, 900), (b, 50), (c, 50)):
        conn.healthy = True
        conn.recent_queue_ns = queue_us * 1e3
    first = pool.acquire()
    second = pool.acquire()
    assert {first, second} == {b, c}  # equal queue times share the load
    pool.release(first, True)
    pool.release(second, True)
    b.recent_queue_ns = 2e6  # b's queue grew: c, then a
    assert pool.acquire() is c
    pool.release(c, True)


def test_avoids_failed_server_and_unhealthy_ones(pool: ServerPool) -> None:
    a, b, c = pool.connections
    a.healthy, b.healthy, c.healthy = True, True, False
    conn = pool.acquire(avoid=a)
    assert conn is b
    pool.release(conn, False, server_down=True)
    assert not b.healthy
    # only the server to avoid is left: it is used rather than failing
    assert pool.acquire(avoid=a) is a
    pool.release(a, True)
    assert (a.completed, b.failed) == (1, 1)


def test_no_healthy_server_and_no_fallback(pool: ServerPool) -> None:
    with pytest.raises(ClientError, match="no server answers"):
        pool.acquire()
