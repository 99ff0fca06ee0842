"""The Resource-strategy schedule of a Dense layer: what each reuse iteration computes.

hls4ml's ``dense_resource`` runs a loop pipelined at II = 1 whose iterations share
``multiplier_limit`` multipliers; the weights are one ROM whose word at address ``r`` holds
every weight iteration ``r`` multiplies (``ARRAY_RESHAPE``), so an iteration is one ROM read.
hepinfer's kernel (``hepinfer_dense.h``) does the same with an order of products that keeps
the emulator's accumulation order (increasing input index per output, which matters for
saturating or rounding accumulators):

- **reuse factor R <= n_in** (``rf_leq_nin``): iteration ``r`` multiplies the inputs
  ``r*rows .. r*rows + rows - 1`` (``rows = ceil(n_in / R)``) by all their weights, ``rows *
  n_out`` lanes; the ROM is the row-major kernel (``cyclic factor = lanes``), the input rows
  padded with zeros to a whole number of iterations;
- **R > n_in** (``rf_gt_nin``): the outputs are split into groups of ``ceil(n_out /
  floor(R / n_in))`` lanes and iteration ``g * n_in + i`` multiplies input ``i`` by the
  weights of group ``g``, so no lane idles while the loop still takes at most R iterations.

The ROM is ``iterations`` words of ``lanes x weight width`` bits: constants at one
iteration, LUTRAM up to `LUTRAM_MAX_DEPTH` words, block RAM beyond (one LUT6 holds 64 words
of one bit; a shallower memory in block RAM would leave most of each BRAM18K unused). The
HLS writer (``hepinfer.ops.dense.hls``) and the estimator (``hepinfer.estimate``) both read
this schedule, so the estimate follows the loop the project contains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hepinfer.errors import ConfigError

__all__ = ["LUTRAM_MAX_DEPTH", "ReuseSchedule", "Storage"]

LUTRAM_MAX_DEPTH = 64
"""Deepest weight ROM bound to LUTRAM; deeper ones go to block RAM."""

Storage = Literal["constant", "lutram", "bram"]


@dataclass(frozen=True)
class ReuseSchedule:
    """The reuse loop of an ``n_in x n_out`` Dense layer at reuse factor ``reuse_factor``."""

    n_in: int
    n_out: int
    reuse_factor: int

    def __post_init__(self) -> None:
        for name in ("n_in", "n_out", "reuse_factor"):
            value = getattr(self, name)
            if value < 1:
                msg = f"{name} {value!r} of a Resource-strategy Dense is invalid; give >= 1"
                raise ConfigError(msg)

    @property
    def gt_nin(self) -> bool:
        """Whether this is the ``rf_gt_nin`` variant (R > n_in)."""
        return self.reuse_factor > self.n_in

    @property
    def rows(self) -> int:
        """Input rows per iteration (1 when R > n_in)."""
        return 1 if self.gt_nin else math.ceil(self.n_in / self.reuse_factor)

    @property
    def group(self) -> int:
        """Outputs per iteration: all of them when R <= n_in, one group's when R > n_in."""
        if not self.gt_nin:
            return self.n_out
        return math.ceil(self.n_out / (self.reuse_factor // self.n_in))

    @property
    def groups(self) -> int:
        """Output groups (1 when R <= n_in)."""
        return math.ceil(self.n_out / self.group)

    @property
    def lanes(self) -> int:
        """Multipliers of one iteration (``multiplier_limit``) and values of one ROM word."""
        return self.rows * self.group

    @property
    def iterations(self) -> int:
        """Trip count of the reuse loop (pipelined at II = 1): the layer's II, at most R."""
        if self.gt_nin:
            return self.groups * self.n_in
        return math.ceil(self.n_in / self.rows)

    @property
    def stored(self) -> int:
        """Values in the weight ROM (``iterations x lanes``, zero padding included)."""
        return self.iterations * self.lanes

    @property
    def storage(self) -> Storage:
        """Where the weight ROM goes (module docstring)."""
        if self.iterations == 1:
            return "constant"
        return "lutram" if self.iterations <= LUTRAM_MAX_DEPTH else "bram"

    def layout(self, kernel: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The ROM contents, flat: word ``r`` (``lanes`` values) is what iteration ``r`` reads.

        `kernel` is ``(n_in, n_out)`` (row-major, as the emulator holds it).
        """
        if kernel.shape != (self.n_in, self.n_out):
            msg = f"kernel of shape {kernel.shape} is not ({self.n_in}, {self.n_out})"
            raise ConfigError(msg)
        if not self.gt_nin:
            padded = np.zeros((self.iterations * self.rows, self.n_out), dtype=kernel.dtype)
            padded[: self.n_in] = kernel
            return padded.reshape(-1)
        cols = np.zeros((self.n_in, self.groups * self.group), dtype=kernel.dtype)
        cols[:, : self.n_out] = kernel
        # (n_in, groups, group) -> (groups, n_in, group): iteration g * n_in + i
        return cols.reshape(self.n_in, self.groups, self.group).transpose(1, 0, 2).reshape(-1)
