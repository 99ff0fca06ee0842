"""ONNX `Einsum` of two computed tensors: hepinfer's `Einsum` op (`hepinfer.ops.einsum`, hls4ml
1.3's two-input Einsum, as the PyTorch frontend reads `torch.einsum`).

The equation needs an explicit output (`->`), no `...`, and the batch axis as the first
subscript of both operands and of the output (appearing nowhere else); it is planned with the
batch axis stripped. The operands are read in their ONNX order (a convolution's channels-last
IR tensor is transposed back first), and the output is in ONNX order.
"""

from __future__ import annotations

from typing import Any

from hepinfer.errors import FrontendError, GraphError
from hepinfer.frontends.onnx_nodes import Converter, OnnxContext
from hepinfer.ir.op import Op
from hepinfer.ops.einsum import node_attrs, strip_batch


def _stripped(ctx: OnnxContext, node: Any, equation: str) -> str:
    """The equation without the batch axis (FrontendError where it cannot be stripped)."""
    try:
        return strip_batch(equation)
    except GraphError as exc:
        msg = f"Einsum {ctx.name(node)!r} with {exc}"
        raise FrontendError(msg) from exc


def einsum(ctx: OnnxContext, node: Any, attrs: dict[str, Any]) -> None:
    """Einsum of two computed tensors (a constant operand is a layer's weight: refused)."""
    equation = attrs.get("equation", b"")
    equation = equation.decode() if isinstance(equation, bytes) else str(equation)
    constant = [i for i in range(len(node.input)) if ctx.const(node, i) is not None]
    if len(node.input) != 2 or constant:
        msg = (
            f"Einsum {ctx.name(node)!r} ({equation!r}) with {len(node.input)} inputs "
            f"({len(constant)} constant) is not supported; supported: the einsum of two "
            "computed tensors (hls4ml 1.3's Einsum)"
        )
        raise FrontendError(msg)
    stripped = _stripped(ctx, node, equation)
    srcs = [ctx.channels_first(node, i) for i in range(2)]
    try:
        attrs_ = node_attrs(stripped, ctx.builder.shape(srcs[0]), ctx.builder.shape(srcs[1]))
    except GraphError as exc:
        msg = f"Einsum {ctx.name(node)!r}: {exc}"
        raise FrontendError(msg) from None
    ctx.set(node, ctx.builder.add(ctx.name(node), Op.EINSUM, srcs, attrs_), "ir")


CONVERTERS: dict[str, Converter] = {"Einsum": einsum}
