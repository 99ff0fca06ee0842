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
