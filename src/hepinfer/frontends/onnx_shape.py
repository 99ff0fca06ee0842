"""ONNX `Pad` (constant zeros) and `Resize` (nearest, integer scales) of spatial axes.

Both work on the IR's channels-last tensors: an NCHW tensor moves its channels last first
(absorbed where a Conv already did), a QONNX channels-last model's NHWC tensors are read as
they are. A Pad before a Conv becomes that Conv's padding (`passes.fold_zero_pad`).
"""

from __future__ import annotations

import math
from typing import Any

from hepinfer.errors import FrontendError
from hepinfer.frontends.onnx_nodes import Converter, OnnxContext
from hepinfer.ir.op import Op


def _spatial_input(ctx: OnnxContext, node: Any) -> tuple[str, list[int], int, str]:
    """(channels-last IR input, ONNX axes of its spatial dims, ONNX channel axis, layout)."""
    src = ctx.src(node)
    rank = len(ctx.builder.shape(src)) + 1  # ONNX rank, batch included
    if rank < 3:
        msg = (
            f"{node.op_type} {ctx.name(node)!r}: input of per-sample shape "
            f"{ctx.builder.shape(src)} has no spatial axis; supported: (N, C, W) and (N, C, H, W)"
        )
        raise FrontendError(msg)
    if ctx.channels_last_model and not ctx.is_cl(node):  # NHWC in ONNX and in the IR
        return src, list(range(1, rank - 1)), rank - 1, "ir"
    return ctx.channels_last(node), list(range(2, rank)), 1, "cl"


def _attr_str(attrs: dict[str, Any], key: str, default: str) -> str:
    v = attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def pad(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Pad with zeros (mode 'constant'); pads of the batch and channel axes must be 0."""
    mode = _attr_str(attrs, "mode", "constant")
    pads_c = ctx.const(node, 1)
    value = ctx.const(node, 2)
    fill = float(attrs.get("value", 0.0)) if value is None else float(value.reshape(-1)[0])
    if mode != "constant" or fill != 0.0:
        msg = (
            f"Pad {ctx.name(node)!r}: mode {mode!r} with value {fill} is not supported; "
            "supported: mode 'constant' with value 0"
        )
        raise FrontendError(msg)
    if len(node.input) > 3 and node.input[3]:
        msg = f"Pad {ctx.name(node)!r}: the 'axes' input is not supported; give pads of all axes"
        raise FrontendError(msg)
    raw = attrs.get("pads") if pads_c is None else pads_c.reshape(-1)
    if raw is None:
        msg = f"Pad {ctx.name(node)!r}: the pads must be constant"
        raise FrontendError(msg)
    pads = [int(p) for p in raw]
    src, spatial, channel, layout = _spatial_input(ctx, node)
    rank = len(pads) // 2
    if len(pads) != 2 * (len(spatial) + 2) or min(pads) < 0:
        msg = f"Pad {ctx.name(node)!r}: pads {pads} must be {2 * (len(spatial) + 2)} values >= 0"
        raise FrontendError(msg)
    if pads[0] or pads[rank] or pads[channel] or pads[rank + channel]:
        msg = f"Pad {ctx.name(node)!r}: pads {pads} pad the batch or channel axis; only spatial"
        raise FrontendError(msg)
    ir_pads = (*(pads[a] for a in spatial), *(pads[rank + a] for a in spatial))
    if not any(ir_pads):
        ctx.set(node, src, layout)
        return
    ctx.set(
        node,
        ctx.builder.add(ctx.name(node), Op.ZERO_PADDING, [src], {"pads": ir_pads, "fold": True}),
        layout,
    )


def _nearest_sources(mode: str, rounding: str, out_len: int, scale: int) -> list[int] | None:
    """ONNX Resize's nearest source index of each output index (None: mode unknown)."""
    in_len = out_len // scale
    out = []
    for i in range(out_len):
        if mode in ("half_pixel", "pytorch_half_pixel"):
            x = (i + 0.5) / scale - 0.5 if out_len > 1 or mode == "half_pixel" else 0.0
        elif mode == "asymmetric":
            x = i / scale
        elif mode == "tf_half_pixel_for_nn":
            x = (i + 0.5) / scale
        elif mode == "align_corners":
            x = i * (in_len - 1) / (out_len - 1) if out_len > 1 else 0.0
        else:
            return None
        if rounding == "floor":
            j = math.floor(x)
        elif rounding == "ceil":
            j = math.ceil(x)
        elif rounding == "round_prefer_ceil":
            j = math.floor(x + 0.5)
        else:  # round_prefer_floor
            j = math.ceil(x - 0.5)
        out.append(min(max(j, 0), in_len - 1))
    return out


def resize(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Resize, mode 'nearest', integer upscaling of the spatial axes (hls4ml's UpSampling)."""
    mode = _attr_str(attrs, "mode", "nearest")
    src, spatial, channel, layout = _spatial_input(ctx, node)
    ir_shape = ctx.builder.shape(src)
    onnx_shape = [0] * (len(ir_shape) + 1)
    for k, a in enumerate(spatial):
        onnx_shape[a] = ir_shape[k]
    onnx_shape[channel] = ir_shape[-1]
    onnx_shape[0] = 1
    consts = [ctx.const(node, i) for i in range(1, len(node.input))]
    scales_c = next((c for c in consts[1:2] if c is not None and c.size), None)
    if len(node.input) == 2:  # opset 10: (X, scales)
        scales_c = consts[0]
    sizes_c = consts[2] if len(consts) > 2 else None
    if scales_c is not None and scales_c.size:
        scales = [float(s) for s in scales_c.reshape(-1)]
    elif sizes_c is not None and sizes_c.size:
        scales = [float(s) / d for s, d in zip(sizes_c.reshape(-1), onnx_shape, strict=True)]
        scales[0] = 1.0
    else:
        msg = f"Resize {ctx.name(node)!r}: the scales or sizes must be constants"
        raise FrontendError(msg)
    factors = [scales[a] for a in spatial]
    if (
        mode != "nearest"
        or scales[0] != 1
        or scales[channel] != 1
        or any(f != round(f) or f < 1 for f in factors)
    ):
        msg = (
            f"Resize {ctx.name(node)!r}: mode {mode!r} with scales {scales} is not supported; "
            "supported: mode 'nearest' with integer upscaling of the spatial axes"
        )
        raise FrontendError(msg)
    coord = _attr_str(attrs, "coordinate_transformation_mode", "half_pixel")
    rounding = _attr_str(attrs, "nearest_mode", "round_prefer_floor")
    for d, f in zip(ir_shape[:-1], factors, strict=True):
        k = round(f)
        if _nearest_sources(coord, rounding, d * k, k) != [i // k for i in range(d * k)]:
            msg = (
                f"Resize {ctx.name(node)!r}: coordinate_transformation_mode {coord!r} with "
                f"nearest_mode {rounding!r} does not repeat each pixel {k} times; supported: "
                "the modes that do (half_pixel with round_prefer_floor, asymmetric with floor, ...)"
            )
            raise FrontendError(msg)
    scales_ir = tuple(round(f) for f in factors)
    ir = ctx.builder.add(ctx.name(node), Op.UPSAMPLING, [src], {"scale": scales_ir})
    ctx.set(node, ir, layout)


CONVERTERS: dict[str, Converter] = {"Pad": pad, "Resize": resize}
