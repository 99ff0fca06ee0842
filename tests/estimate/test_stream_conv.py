"""io_stream convolutions as hls4ml generates them (issue 20, io_stream II).

hls4ml pads a 'same' Conv1D/Conv2D in a ZeroPadding process in front of it, so the pixel
loop reads the padded image; in Vitis the loop's call of ``compute_output_buffer`` (INLINE
OFF, static window and counters) cannot start before the previous call has finished, so the
loop II is the call's latency; a dataflow of several processes is then bounded by that
loop's trip count times its II.
"""

from __future__ import annotations

import warnings
from typing import Any

from hepinfer.estimate import (
    ActivationCost,
    ConvCost,
    DenseCost,
    Estimate,
    IOType,
    LayerCost,
    estimate_layers,
)

STREAM = IOType.STREAM


def est(layers: list[LayerCost], tool: str) -> Estimate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimate_layers(layers, part="xcu250", clock_period=5.0, tool=tool)


def conv(**kw: Any) -> ConvCost:
    fields: dict[str, Any] = {
        "name": "conv",
        "in_width": 8,
        "n_chan": 2,
        "n_filt": 4,
        "filt_width": 3,
        "io_type": STREAM,
    }
    return ConvCost(**{**fields, **kw})


def test_same_padding_adds_hls4mls_zero_padding_pixels() -> None:
    """Conv1D(k=3, 'same') on 8 pixels: hls4ml's ZeroPadding1D feeds 1 + 8 + 1 = 10 words."""
    valid = est([conv()], "vivado-hls-2020").layers[0]
    same = est([conv(padding="same")], "vivado-hls-2020").layers[0]
    assert valid.ii == 8
    assert same.ii == 10
    # 2D, 3x3 'same' on 5x6: (5 + 2) x (6 + 2) words
    conv2d = conv(in_height=5, in_width=6, filt_height=3, padding="same")
    assert est([conv2d], "vivado-hls-2020").layers[0].ii == 7 * 8
    # a depthwise convolution has no padding layer in front of it
    depthwise = conv(padding="same", n_chan=1, depthwise=True)
    assert est([depthwise], "vivado-hls-2020").layers[0].ii == 8


def test_vitis_pixel_loop_waits_for_each_window_call() -> None:
    """II per pixel = the call's latency (one output pixel's depth) where it exceeds R."""
    layer = est([conv(padding="same")], "vitis-2024").layers[0]
    depth = layer.details["pixel_ii"]
    assert depth > 1
    assert layer.ii == 10 * depth
    assert layer.latency_cycles >= layer.ii + depth
    # Vivado HLS pipelines the same loop at the reuse factor
    assert est([conv(padding="same")], "vivado-hls-2020").layers[0].ii == 10
    # a reuse factor above the call's latency sets the II again
    slow = est([conv(padding="same", reuse_factor=depth + 2)], "vitis-2024").layers[0]
    assert slow.ii == 10 * (depth + 2)
    # not a depthwise kernel, a 1x1 kernel or hepinfer's own single-loop kernel
    for other in (
        conv(n_chan=1, depthwise=True),
        conv(filt_width=1),
        conv(kernel="hepinfer"),
    ):
        pixels = other.in_width
        assert est([other], "vitis-2024").layers[0].ii == pixels


def test_vitis_dataflow_ii_is_the_slowest_loop_and_latency_the_latest_finish() -> None:
    """Conv -> ReLU -> Dense-like tail: II = conv's trip x loop II (not its latency + 1);
    latency = the latest finish, each process starting at its producer's first word.
    """
    layers: list[LayerCost] = [
        conv(padding="same"),
        ActivationCost(name="relu", kind="relu", n=8 * 4, n_chan=4, io_type=STREAM),
    ]
    e = est(layers, "vitis-2024")
    c, r = e.layers
    assert e.ii == c.ii == 10 * c.details["pixel_ii"]
    finish = max(c.latency_cycles, c.fill_cycles + r.latency_cycles)
    assert e.latency_cycles == finish + 1  # one handshake cycle
    # one-word processes still restart only when done: II = latency + 1
    dense = [
        DenseCost(name="fc", n_in=8, n_out=4, io_type=STREAM),
        ActivationCost(name="relu", kind="relu", n=4, io_type=STREAM),
    ]
    d = est(dense, "vitis-2024")
    assert d.ii == min(max(lay.latency_cycles + 1 for lay in d.layers), d.latency_cycles)


def test_one_process_design_has_no_dataflow_handshake() -> None:
    """A single io_stream layer is the top function itself (no dataflow channel): Vitis
    reports its latency as the process's and restarts it the cycle after it is done, so
    II = latency + 1, as Vivado HLS does (hls4ml's DepthwiseConv2D baselines: 1,028 / 1,029
    in both tools).
    """
    depthwise = conv(in_height=6, filt_height=3, n_chan=1, depthwise=True)
    for tool in ("vitis-2024", "vitis-2023", "vivado-hls-2020"):
        e = est([depthwise], tool)
        (layer,) = e.layers
        assert e.latency_cycles == layer.latency_cycles
        assert e.ii == layer.latency_cycles + 1
    # with a second process the Vitis dataflow handshake cycle is back
    two = est(
        [depthwise, ActivationCost(name="r", kind="relu", n=6 * 8 * 4, n_chan=4, io_type=STREAM)],
        "vitis-2024",
    )
    c, r = two.layers
    assert two.latency_cycles == max(c.latency_cycles, c.fill_cycles + r.latency_cycles) + 1
