"""ONNX frontend (any opset from 7): the graph's NCHW/NC tensors become hepinfer's IR.

Dense layers come from `Gemm` (alpha, beta, transA=0, transB) or `MatMul` with a constant
right operand, optionally followed by `Add` of a constant bias. QONNX `Quant` nodes
(domain `qonnx.custom_op.general`) on constants quantise the constant and record its
precision on the consuming layer; on activations they become `Quant` nodes.
Layout: feature-vector models are layout-free; convolutional models are handled through the
converters in `onnx_nodes` (channels-first tensors are transposed to channels-last).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import FrontendError, MissingDependencyError
from hepinfer.frontends import onnx_arith, onnx_einsum, onnx_qonnx, onnx_recurrent, onnx_shape
from hepinfer.frontends.builder import ACTIVATIONS, GraphBuilder
from hepinfer.frontends.onnx_nodes import CONVERTERS as NODE_CONVERTERS
from hepinfer.frontends.onnx_nodes import (
    OnnxContext,
    activation_converter,
    channels_last_domain,
)
from hepinfer.ir.graph import Graph

#: ONNX op type -> converter (the later modules extend or wrap the earlier ones)
CONVERTERS = {
    **NODE_CONVERTERS,
    **onnx_arith.CONVERTERS,
    **onnx_shape.CONVERTERS,
    **onnx_qonnx.CONVERTERS,
    **onnx_einsum.CONVERTERS,
}
CONVERTERS.update(onnx_recurrent.wrap(CONVERTERS))  # LSTM/GRU/RNN and their exporter's patterns


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        msg = "onnx"
        raise MissingDependencyError(msg, "compile", "reading ONNX models") from exc
    return onnx


def from_onnx_model(model: Any, name: str = "model") -> Graph:
    """Convert a loaded `onnx.ModelProto`."""
    onnx = _onnx()
    from onnx import numpy_helper

    graph = model.graph
    builder = GraphBuilder(graph.name or name)
    ctx = OnnxContext(builder)
    ctx.channels_last_model = any(channels_last_domain(n) for n in graph.node)
    for init in graph.initializer:
        ctx.consts[init.name] = numpy_helper.to_array(init).astype(np.float64)
    for inp in graph.input:
        if inp.name in ctx.consts:
            continue
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        if not dims:
            msg = f"ONNX input {inp.name!r} has no shape; re-export the model with input shapes"
            raise FrontendError(msg)
        shape = dims[1:]
        ctx.tensors[inp.name] = builder.input(inp.name, shape)
        ctx.layout[inp.name] = "ir"
    for node in graph.node:
        op_type = str(node.op_type)
        converter = CONVERTERS.get(op_type)
        if converter is None and op_type.lower() in ACTIVATIONS:
            converter = activation_converter(op_type.lower())
        if converter is None:
            msg = (
                f"ONNX node {node.name or node.output[0]!r} of type {op_type!r} is not supported; "
                f"supported types: {', '.join(sorted(CONVERTERS))} and the activations "
                f"{', '.join(sorted(ACTIVATIONS))}"
            )
            raise FrontendError(msg)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        _check_batch_moved(ctx, node)
        converter(ctx, node, attrs)
    outputs = []
    for out in graph.output:
        if ctx.layout.get(out.name) in BATCH_MOVED:
            msg = (
                f"ONNX output {out.name!r} has its batch axis moved by a Transpose (perm [1, 0]); "
                "supported: a later Transpose perm [1, 0] that moves it back"
            )
            raise FrontendError(msg)
        if out.name not in ctx.tensors:
            msg = f"ONNX output {out.name!r} is not computed from the inputs (constant output?)"
            raise FrontendError(msg)
        outputs.append(ctx.materialise(out.name))
    onnx_recurrent.prune(ctx, outputs)
    return builder.build(outputs)


#: layouts of tensors whose batch axis a Transpose moved (see onnx_nodes.transpose)
BATCH_MOVED = ("bt", "bt1")
#: node types that may read such a tensor (element-wise along the batch, or undoing the move)
_ON_BATCH_MOVED = {"Transpose", "Unsqueeze", "Squeeze", "BatchNormalization", "Identity"}


def _check_batch_moved(ctx: OnnxContext, node: Any) -> None:
    moved = [i for i in node.input if ctx.layout.get(str(i)) in BATCH_MOVED]
    op_type = str(node.op_type)
    elementwise = op_type.lower() in ACTIVATIONS and op_type != "Softmax"
    if not moved or op_type in _ON_BATCH_MOVED or elementwise:
        return
    msg = (
        f"ONNX node {node.name or node.output[0]!r} of type {op_type!r} reads {moved[0]!r}, "
        "whose batch axis a Transpose moved; supported there: "
        f"{', '.join(sorted(_ON_BATCH_MOVED))} and element-wise activations"
    )
    raise FrontendError(msg)


def load_onnx(path: str | Path) -> Graph:
    """Convert an ONNX or QONNX file."""
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        msg = f"ONNX model file {p} does not exist"
        raise FrontendError(msg)
    try:
        model = onnx.load(str(p))
    except Exception as exc:
        msg = f"{p} could not be read as an ONNX model: {exc}"
        raise FrontendError(msg) from exc
    return from_onnx_model(model, p.stem)
