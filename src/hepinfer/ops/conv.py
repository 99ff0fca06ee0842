"""Shared machinery of convolutions and pooling: padding arithmetic and im2col patches.

Layouts are channels-last: 1D (width, channels), 2D (height, width, channels). Patches are
ordered like hls4ml's `fill_buffer` (window rows, window columns, channels), matching a
Keras kernel `(kh, kw, c_in, c_out)` reshaped to `(kh * kw * c_in, c_out)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hepinfer.errors import GraphError
from hepinfer.ir.graph import Node

Array = npt.NDArray[Any]


def ints(node: Node, key: str, n: int, default: int) -> tuple[int, ...]:
    """Attribute `key` as a tuple of n ints (a scalar is repeated)."""
    value = node.attrs.get(key, default)
    if isinstance(value, int | float):
        return (int(value),) * n
    out = tuple(int(v) for v in value)
    if len(out) != n:
        msg = f"{node.op.value} {node.name!r}: {key}={out} needs {n} entries"
        raise GraphError(msg)
    return out


def geometry(
    node: Node, in_shape: Sequence[int], kernel: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(strides, dilations, pads as begin... + end..., output spatial shape)."""
    n = len(kernel)
    strides = ints(node, "strides", n, 1)
    dilations = ints(node, "dilations", n, 1)
    pads = ints(node, "pads", 2 * n, 0)
    out = []
    for i in range(n):
        span = (kernel[i] - 1) * dilations[i] + 1
        size = (in_shape[i] + pads[i] + pads[n + i] - span) // strides[i] + 1
        if size <= 0:
            msg = f"{node.op.value} {node.name!r}: window {span} does not fit input {in_shape[i]} + padding"
            raise GraphError(msg)
        out.append(size)
    return strides, dilations, pads, tuple(out)


def same_pads(
    in_shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int] | None = None,
) -> tuple[int, ...]:
    """Keras/TensorFlow 'same' padding (extra pixel at the end), as begin... + end..."""
    n = len(kernel)
    dil = dilations or (1,) * n
    begin, end = [], []
    for i in range(n):
        out = -(-in_shape[i] // strides[i])
        total = max((out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - in_shape[i], 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return (*begin, *end)


def patches(
    x: Array,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Sequence[int],
    fill: Any = 0,
) -> Array:
    """(batch, *out_spatial, *kernel, channels) windows of x (batch, *spatial, channels)."""
    n = len(kernel)
    widths = [(0, 0)] + [(pads[i], pads[n + i]) for i in range(n)] + [(0, 0)]
    padded = np.pad(x, widths, constant_values=fill)
    spans = [(kernel[i] - 1) * dilations[i] + 1 for i in range(n)]
    win = np.lib.stride_tricks.sliding_window_view(padded, spans, axis=tuple(range(1, n + 1)))
    # win: (batch, *positions, channels, *spans) -> stride and dilate
    index: list[slice] = [slice(None)]
    index += [slice(None, None, strides[i]) for i in range(n)]
    index += [slice(None)]
    index += [slice(None, None, dilations[i]) for i in range(n)]
    win = win[tuple(index)]
    order = (0, *range(1, n + 1), *range(n + 2, 2 * n + 2), n + 1)
    return np.ascontiguousarray(win.transpose(order))


def conv_shape(node: Node, in_shape: Sequence[int], rank: int) -> tuple[int, ...]:
    """Output shape of a convolution with kernel (*k, c_in, c_out) on channels-last input."""
    kernel = node.weights["kernel"]
    if len(in_shape) != rank + 1 or kernel.ndim != rank + 2:
        msg = f"{node.op.value} {node.name!r}: input {tuple(in_shape)} / kernel {kernel.shape} ranks do not fit"
        raise GraphError(msg)
    if kernel.shape[rank] != in_shape[-1]:
        msg = f"{node.op.value} {node.name!r}: kernel expects {kernel.shape[rank]} channels, input has {in_shape[-1]}"
        raise GraphError(msg)
    _, _, _, out = geometry(node, in_shape[:rank], kernel.shape[:rank])
    return (*out, int(kernel.shape[-1]))


def line_buffer(
    in_hw: Sequence[int],
    out: Sequence[int],
    k: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Sequence[int],
) -> dict[str, int]:
    """Line-buffer geometry of the io_stream Conv / Pool kernels (height first).

    The window spans `win` rows and columns (dilation included); the kernel walks a `grid` of
    the padded input large enough to read every input pixel and to end every output window;
    `line_rows` rows of `grid_width` pixels are kept (at least 1: C++ has no empty arrays).
    """
    win = [(k[i] - 1) * dilations[i] + 1 for i in range(2)]
    grid = [max(pads[i] + in_hw[i], (out[i] - 1) * strides[i] + win[i]) for i in range(2)]
    return {
        "win_height": win[0],
        "win_width": win[1],
        "grid_height": grid[0],
        "grid_width": grid[1],
        "line_rows": max(win[0] - 1, 1),
    }
