"""The emulator's thread pool: independent batch chunks of a kernel spread over threads.

numpy releases the GIL in its loops, so chunks of one kernel (e.g. the per-product sums of
`hepinfer.ops.dense`) run in parallel. One pool per process, created on first use.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

THREADS = max(1, min(4, os.cpu_count() or 1))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="hepinfer-dense")


def parallel_map(fn: Callable[[int], None], items: Sequence[int]) -> None:
    """Call `fn` on every item, over the pool when there are several (in order otherwise)."""
    if len(items) > 1 and THREADS > 1:
        list(_pool().map(fn, items))
    else:
        for item in items:
            fn(item)
