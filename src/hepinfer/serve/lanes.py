"""Per event loop: the front end that offers lanes (requests that bypass the loop).

The native gRPC front end can send a python-backend model's raw ModelInfer requests from
its C++ thread straight to the model's instance process and write the answer out without
the event loop (`NativeGrpcFrontend.open_lane`). A model finds that front end here, by its
loop, when it first takes a raw request.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import NamedTuple, Protocol


class LaneStats(NamedTuple):
    """What a lane answered since the last look (times in nanoseconds)."""

    success_count: int
    success_ns: int
    fail_count: int
    fail_ns: int
    input_ns: int
    infer_ns: int
    executions: int
    inferences: int
    last_ms: int
    #: per batch size: (size, count, infer ns)
    batches: tuple[tuple[int, int, int], ...]


class LaneProvider(Protocol):
    """A front end's lanes (`NativeGrpcFrontend` implements it)."""

    @property
    def serving(self) -> bool:
        """Whether the front end still runs (its lanes are gone once it stops)."""

    def open_lane(
        self,
        model: str,
        version: str,
        to_process: int,
        from_process: int,
        error_code: int,
        on_free: Callable[[], None],
        on_lost: Callable[[], Exception],
    ) -> int:
        """Open a lane to an instance process; its id (0: none opened)."""

    def close_lane(self, lane: int) -> None:
        """Close a lane (waits for the request it runs, if any)."""

    def lane_plan(
        self, lane: int, key: bytes, sizes: tuple[int, ...], plan: bytes, batch: int
    ) -> None:
        """Let the lane take requests of one checked form."""

    def lane_acquire(self, lane: int) -> bool:
        """Take the instance for the loop's batches; False while the lane runs a request."""

    def lane_release(self, lane: int) -> None:
        """Give the idle instance back to the lane."""

    def lane_stats(self, lane: int) -> LaneStats | None:
        """The lane's statistics since the last call."""

    def lane_answered(self, lane: int) -> int:
        """Requests the lane answered so far (safe from any thread)."""


_PROVIDERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LaneProvider] = (
    weakref.WeakKeyDictionary()
)


def register(loop: asyncio.AbstractEventLoop, provider: LaneProvider) -> None:
    """`provider` offers lanes on `loop` (a front end, when it starts)."""
    _PROVIDERS[loop] = provider


def unregister(loop: asyncio.AbstractEventLoop, provider: LaneProvider) -> None:
    """`provider` stopped (a front end, when it stops)."""
    if _PROVIDERS.get(loop) is provider:
        del _PROVIDERS[loop]


def provider(loop: asyncio.AbstractEventLoop) -> LaneProvider | None:
    """The front end offering lanes on `loop`, if any."""
    return _PROVIDERS.get(loop)
