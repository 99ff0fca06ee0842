"""Per event loop: a count of the requests a front end has received (for polling waits).

A backend that waits on the loop for a fast answer (the python backend's inline wait) stops
waiting as soon as the front end has received anything new, so the loop can take those
requests while the instance process works (they then share its next ``execute``), instead
of leaving them queued behind the wait. Front ends that can count cheaply register a probe
for their loop; without one, waits end only on the answer or their time limit.

Also per loop: the descriptor the loop itself polls (`loop_fd`: a wait that sleeps on it
wakes for anything the loop would), and the burst a front end is taking (`after_burst`:
what a dynamic batcher would do with ``call_soon`` runs at the end of the burst instead, in
the same loop iteration).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)

#: the number of messages received so far (any monotonic count)
Probe = Callable[[], int]

_PROBES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Probe]] = (
    weakref.WeakKeyDictionary()
)


def register(loop: asyncio.AbstractEventLoop, probe: Probe) -> None:
    """Count `probe`'s messages as arrivals on `loop` (a front end, when it starts)."""
    _PROBES.setdefault(loop, []).append(probe)


def unregister(loop: asyncio.AbstractEventLoop, probe: Probe) -> None:
    """Stop counting `probe` (a front end, when it stops)."""
    probes = _PROBES.get(loop, [])
    if probe in probes:
        probes.remove(probe)


def arrivals(loop: asyncio.AbstractEventLoop) -> Probe | None:
    """A count of every registered front end's arrivals on `loop`; None when none counts."""
    probes = _PROBES.get(loop)
    if not probes:
        return None
    if len(probes) == 1:
        return probes[0]
    return lambda: sum(p() for p in probes)


def loop_fd(loop: asyncio.AbstractEventLoop) -> int | None:
    """The descriptor `loop` polls (uvloop's epoll, a selector loop's), None when unknown.

    It is readable whenever anything the loop watches is ready, so a wait that sleeps in
    ``poll`` on it wakes for the loop's work as the loop itself would (its timers aside).
    """
    backend = getattr(loop, "_get_backend_id", None)  # uvloop: libuv's epoll descriptor
    if backend is not None:
        return int(backend())
    selector = getattr(loop, "_selector", None)  # asyncio's selector loops
    fileno = getattr(selector, "fileno", None)
    if fileno is None:
        return None
    fd = fileno()
    return fd if isinstance(fd, int) and fd >= 0 else None


#: per loop, while a front end takes a burst of requests: what runs at the burst's end
_BURSTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def begin_burst(loop: asyncio.AbstractEventLoop) -> None:
    """A front end starts taking the requests that arrived together (on `loop`)."""
    _BURSTS[loop] = []


def end_burst(loop: asyncio.AbstractEventLoop) -> None:
    """The burst is taken: run what `after_burst` put off, in order (still in this call)."""
    callbacks = _BURSTS.pop(loop, None)
    for callback in callbacks or ():
        try:
            callback()
        except Exception:
            log.exception("a callback run after a burst of requests failed")


def after_burst(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Run `callback` once the burst being taken is (a dynamic batcher's dispatch: it then
    sees every request of the burst, with no further loop iteration), else `call_soon`.
    """
    pending = _BURSTS.get(loop)
    if pending is None:
        loop.call_soon(callback)
    else:
        pending.append(callback)
