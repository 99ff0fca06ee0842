"""The server's memory budget for queued requests.

Every accepted inference request holds its decoded inputs until it is answered. The budget
counts those bytes over all models; a request that would take the total past the limit is
refused at once with RESOURCE_EXHAUSTED (HTTP 429), so a flood of large requests (or one
stream of thousands) cannot grow the server's memory without bound: clients are told to back
off instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hepinfer.errors import ResourceExhaustedError, ServeError

#: default budget for the inputs of queued and running requests (``--max-queued-mb``)
DEFAULT_BUDGET_BYTES = 1 << 30


def request_bytes(arrays: Mapping[str, np.ndarray]) -> int:
    """Memory the decoded inputs of one request hold (BYTES elements by their length)."""
    total = 0
    for a in arrays.values():
        total += a.nbytes
        if a.dtype.hasobject:
            total += sum(len(x) for x in a.flat if isinstance(x, bytes | str))
    return total


class MemoryBudget:
    """Bytes held by accepted requests, against a limit (0: unlimited)."""

    def __init__(self, limit_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        if limit_bytes < 0:
            msg = f"memory budget {limit_bytes} bytes is negative; give 0 (no limit) or more"
            raise ServeError(msg)
        self.limit = limit_bytes
        self.used = 0
        #: the most bytes held at once since start
        self.peak = 0

    def take(self, nbytes: int, model: str) -> None:
        """Reserve `nbytes` for a request of `model`, or raise ResourceExhaustedError."""
        if self.limit and self.used + nbytes > self.limit:
            msg = (
                f"request for model '{model}' needs {nbytes} bytes but the server holds "
                f"{self.used} of its {self.limit}-byte budget for queued requests; retry "
                "later, send smaller requests, or raise --max-queued-mb"
            )
            raise ResourceExhaustedError(msg)
        self.used += nbytes
        self.peak = max(self.peak, self.used)

    def give(self, nbytes: int) -> None:
        """Return the bytes of a request that was answered."""
        self.used -= nbytes
