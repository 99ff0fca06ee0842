"""The Resource-strategy schedule: each iteration reads one ROM word, every product once,
in the emulator's order, with no more iterations than the reuse factor.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepinfer.errors import ConfigError
from hepinfer.ops.reuse import LUTRAM_MAX_DEPTH, ReuseSchedule

SHAPES = [(16, 64), (64, 32), (32, 32), (32, 5), (10, 3), (7, 1), (1, 4)]
RFS = [1, 2, 3, 4, 5, 8, 16, 24, 32, 40, 64, 100, 1000]


def _run(s: ReuseSchedule, kernel: np.ndarray) -> list[list[tuple[int, int]]]:
    """The (input, weight) pairs each output receives, in order, when the loop of
    hepinfer_dense.h (rf_leq_nin or rf_gt_nin) walks the ROM word by word.
    """
    rom = s.layout(kernel).reshape(s.iterations, s.lanes)  # one word per iteration
    got: list[list[tuple[int, int]]] = [[] for _ in range(s.n_out)]
    for r in range(s.iterations):
        if s.gt_nin:
            g, i = divmod(r, s.n_in)
            for lane in range(s.group):
                j = g * s.group + lane
                if j < s.n_out:
                    got[j].append((i, int(rom[r, lane])))
        else:
            for k in range(s.rows):
                i = r * s.rows + k
                for j in range(s.n_out):
                    if i < s.n_in:
                        got[j].append((i, int(rom[r, k * s.n_out + j])))
    return got


@pytest.mark.parametrize(("n_in", "n_out"), SHAPES)
@pytest.mark.parametrize("rf", RFS)
def test_every_product_once_in_increasing_input_order(n_in: int, n_out: int, rf: int) -> None:
    s = ReuseSchedule(n_in, n_out, rf)
    kernel = np.arange(1, n_in * n_out + 1, dtype=np.int64).reshape(n_in, n_out)
    got = _run(s, kernel)
    for j in range(n_out):
        assert got[j] == [(i, int(kernel[i, j])) for i in range(n_in)], f"output {j}"
    assert s.stored == s.iterations * s.lanes == s.layout(kernel).size
    assert s.iterations <= max(rf, 1) or s.iterations == n_in * n_out
    assert s.gt_nin == (rf > n_in)


@pytest.mark.parametrize(
    ("n_in", "n_out", "rf"),
    [(16, 64, 4), (64, 32, 16), (16, 64, 32), (16, 64, 64), (32, 5, 64), (32, 32, 64)],
)
def test_lanes_are_hls4ml_multiplier_limit_where_rf_divides(n_in: int, n_out: int, rf: int) -> None:
    """Where hls4ml accepts the reuse factor, the same multipliers and R iterations."""
    s = ReuseSchedule(n_in, n_out, rf)
    assert s.lanes == math.ceil(n_in * n_out / rf)
    assert s.iterations == rf


def test_rf_above_n_in_keeps_multipliers_busy() -> None:
    s = ReuseSchedule(16, 64, 40)  # 2 groups of 32 outputs, 32 iterations (not 40 with idlers)
    assert (s.group, s.groups, s.iterations, s.lanes) == (32, 2, 32, 32)
    padded = ReuseSchedule(32, 5, 64)  # groups of 3 outputs; the last lane of group 2 idles
    assert (padded.group, padded.groups, padded.iterations) == (3, 2, 64)
    assert padded.stored == 64 * 3


def test_storage_by_depth() -> None:
    assert ReuseSchedule(16, 64, 1).storage == "constant"
    assert ReuseSchedule(16, 64, 16).storage == "lutram"
    assert ReuseSchedule(64, 32, LUTRAM_MAX_DEPTH).storage == "lutram"
    assert ReuseSchedule(100, 100, 100).storage == "bram"


def test_bad_values() -> None:
    with pytest.raises(ConfigError, match="reuse_factor 0"):
        ReuseSchedule(4, 4, 0)
    with pytest.raises(ConfigError, match=r"not \(4, 4\)"):
        ReuseSchedule(4, 4, 2).layout(np.zeros((4, 5), dtype=np.int64))
