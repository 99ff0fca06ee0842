"""What the emulator's runtime lends the operators' kernels, declared here, provided there.

The kernels in `ops/` are numpy semantics. Two of their steps can run faster without
changing a bit: spreading independent batch chunks over threads, and a whole Dense sum in
the native C++ kernel. `ops/` may not import the emulator (the import DAG of
docs/architecture.md), so it declares the interface, `Runtime`, and `hepinfer.emulate`
installs its implementation (thread pool, native kernel, engine choice) for the duration of
a run with `installed`. Without one, kernels run serially in numpy: the same bits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hepinfer.fixed import FixedType

IntArray = npt.NDArray[np.int64]
#: (input, weight, accumulator, result or None) types of one Dense sum
DenseTypes = tuple[FixedType, FixedType, FixedType, FixedType | None]


class Runtime(Protocol):
    """How a run executes the kernels' parallel and native steps."""

    def map(self, fn: Callable[[int], None], items: Sequence[int]) -> None:
        """Call `fn` on every item (independent chunks: any order, any thread)."""

    def dense(
        self, xm: IntArray, wm: IntArray, bias: IntArray, types: DenseTypes
    ) -> IntArray | None:
        """`xm @ wm` products cast to the accumulator, summed from `bias` (and cast to the
        result type when there is one), bit-exact; None where this runtime cannot.
        """


class Serial:
    """No runtime installed: chunks one after the other, every sum in numpy."""

    def map(self, fn: Callable[[int], None], items: Sequence[int]) -> None:
        """Call `fn` on each item in order, in this thread."""
        for item in items:
            fn(item)

    def dense(
        self, xm: IntArray, wm: IntArray, bias: IntArray, types: DenseTypes
    ) -> IntArray | None:
        """None: the caller's numpy arithmetic runs."""
        del xm, wm, bias, types
        return None


_SERIAL = Serial()
_CURRENT: ContextVar[Runtime | None] = ContextVar("hepinfer_runtime", default=None)


def current() -> Runtime:
    """The runtime of the run in progress (`Serial` outside the emulator)."""
    runtime = _CURRENT.get()
    return _SERIAL if runtime is None else runtime


@contextlib.contextmanager
def installed(runtime: Runtime) -> Iterator[None]:
    """Run the enclosed kernels with `runtime`."""
    token = _CURRENT.set(runtime)
    try:
        yield
    finally:
        _CURRENT.reset(token)


#: multiply-adds of one float matrix product that BLAS runs in the calling thread (OpenBLAS
#: starts threads above 2**18): on a busy machine those threads cost more than the small
#: products of the float kernels (measured 6x on a recurrent layer)
BLAS_ONE_THREAD = 2**18
#: the smallest chunk `rows_per_chunk` gives (fewer rows: Python overhead per chunk dominates)
LEAST_ROWS = 256

FloatArray = npt.NDArray[np.float64]


def rows_per_chunk(macs_per_row: int) -> int:
    """Batch rows per chunk of a float kernel whose products take `macs_per_row`
    multiply-adds per row: as many as keep a product under `BLAS_ONE_THREAD`.
    """
    return max(LEAST_ROWS, BLAS_ONE_THREAD // max(macs_per_row, 1))


def by_rows(x: FloatArray, rows: int, run: Callable[[FloatArray], FloatArray]) -> FloatArray:
    """`run` on chunks of `rows` batch rows of `x` (axis 0), spread over the current runtime's
    threads and joined in batch order; one call when the batch fits one chunk.
    """
    if x.shape[0] <= rows:
        return run(x)
    starts = list(range(0, x.shape[0], rows))
    done: dict[int, FloatArray] = {}

    def one(start: int) -> None:
        done[start] = run(x[start : start + rows])

    current().map(one, starts)
    out: FloatArray = np.concatenate([done[s] for s in starts], axis=0)
    return out
