"""Every operator is read by every frontend, or listed here with the reason it is not.

An op counts as mapped by a frontend when the frontend's converters name it (`Op.X` in its
modules) or find it by name through `builder.ACTIVATIONS` (all three frontends look
element-wise activations up there), and graph inputs come from `GraphBuilder.input`.
The lists below are what the frontends do today: a new op must be mapped or listed, and a
listed op that a frontend starts mapping must leave the list (both fail this test).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hepinfer.frontends
from hepinfer.frontends.builder import ACTIVATIONS
from hepinfer.ir.op import Op

FRONTENDS = Path(hepinfer.frontends.__file__).parent
#: frontend -> its converter modules
MODULES = {
    "keras": ("keras.py", "keras_layers.py", "hgq2.py", "keras_garnet.py"),
    "onnx": (
        "onnx.py",
        "onnx_nodes.py",
        "onnx_arith.py",
        "onnx_shape.py",
        "onnx_qonnx.py",
        "onnx_recurrent.py",
        "onnx_einsum.py",
    ),
    "torch": ("torch.py",),
}
#: ops the framework has no layer for, by frontend, with the reason
NOT_EXPRESSIBLE: dict[str, dict[Op, str]] = {
    "keras": {
        Op.QUANT: "Keras has no quantiser layer: QKeras quantisers become the types of the "
        "layer they belong to (kernel_quantizer, quantizer attributes), not a Quant node",
        Op.BIPOLAR_QUANT: "as Quant (QKeras `binary` quantisers are types)",
        Op.MULTITHRESHOLD: "a QONNX/FINN operator; Keras has no thresholding layer",
    },
    "onnx": {
        Op.FIXED_POINT_QUANTIZER: "HGQ2's per-element quantisers are Keras 3 layers; QONNX "
        "quantisers are Quant nodes (one type per tensor)",
        Op.GARNET: "GarNet is a Keras layer of hls4ml's contrib package; ONNX has no such "
        "operator (hls4ml converts it only from Keras 2)",
        Op.GARNET_STACK: "as GarNet (its stacked form, same package)",
        Op.UNARY_LUT: "HGQ2's QUnaryFunctionLUT is a Keras 3 layer; ONNX has no table operator",
        Op.BIT_EXACT_SOFTMAX: "HGQ2's QSoftmax (its table quantisers as types) is a Keras 3 "
        "layer; ONNX Softmax is Softmax",
    },
    "torch": {
        Op.AVERAGE: "PyTorch has no two-tensor average function (hls4ml converts none)",
        Op.QUANT: "PyTorch has no quantiser module: Brevitas models reach hepinfer as QONNX "
        "(Quant nodes, read by the ONNX frontend)",
        Op.BIPOLAR_QUANT: "as Quant (Brevitas binary layers reach hepinfer as QONNX)",
        Op.MULTITHRESHOLD: "a QONNX/FINN operator; PyTorch has no thresholding module",
        Op.FIXED_POINT_QUANTIZER: "HGQ2's per-element quantisers are Keras 3 layers (hgq2)",
        Op.GARNET: "GarNet is a Keras layer of hls4ml's contrib package (hls4ml converts it "
        "only from Keras 2)",
        Op.GARNET_STACK: "as GarNet (its stacked form, same package)",
        Op.UNARY_LUT: "HGQ2's QUnaryFunctionLUT is a Keras 3 layer (hgq2)",
        Op.BIT_EXACT_SOFTMAX: "HGQ2's QSoftmax (its table quantisers as types) is a Keras 3 "
        "layer (hgq2); nn.Softmax is Softmax",
    },
}
#: ops the framework can express but the frontend does not convert yet (gaps, with reason)
NOT_CONVERTED_YET: dict[str, dict[Op, str]] = {
    "keras": {
        Op.CLIP: "ReLU(max_value=...) could become a Clip: not converted yet (hls4ml refuses it too)",
    },
    "onnx": {
        Op.CROPPING: "ONNX Slice and negative Pad are not converted yet (issue 13)",
        Op.DEPTHWISE_CONV1D: "ONNX Conv with group = channels in 1D converts as a block-diagonal Conv1D",
        Op.EMBEDDING: "ONNX Gather of a constant table is not converted yet (hls4ml 1.3: none)",
        Op.DOT: "ONNX MatMul of two computed 1D tensors is not converted yet (hls4ml 1.3: none)",
        Op.LAYERNORM: "ONNX LayerNormalization (opset 17) is not converted yet (hls4ml 1.3: none)",
        Op.EINSUM_DENSE: "ONNX Einsum with a constant operand is not converted yet (hls4ml 1.3: "
        "its ONNX frontend has no Einsum)",
    },
    "torch": {
        Op.CLIP: "torch.clamp / nn.Hardtanh / nn.ReLU6 are not converted yet",
        Op.DOT: "torch.dot / matmul of two computed tensors is not converted yet (hls4ml 1.3: none)",
        Op.EINSUM_DENSE: "torch.einsum with a parameter operand is not converted yet (hls4ml 1.3's "
        "torch einsum is its two-input Einsum)",
    },
}


def _mapped(frontend: str) -> set[Op]:
    names = set()
    for module in MODULES[frontend]:
        tree = ast.parse((FRONTENDS / module).read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "Op"
            ):
                names.add(node.attr)
    return {Op[n] for n in names} | set(ACTIVATIONS.values()) | {Op.INPUT}


@pytest.mark.parametrize("frontend", list(MODULES))
@pytest.mark.parametrize("op", list(Op), ids=[op.value for op in Op])
def test_every_op_is_mapped_or_listed(frontend: str, op: Op) -> None:
    mapped = op in _mapped(frontend)
    listed = op in NOT_EXPRESSIBLE[frontend] or op in NOT_CONVERTED_YET[frontend]
    assert mapped != listed, f"{op.value} in the {frontend} frontend: " + (
        "mapped, remove it from the lists" if mapped else "neither mapped nor listed"
    )


def test_the_activation_table_is_used_by_every_frontend() -> None:
    """The premise of `_mapped`: each frontend reaches `builder.ACTIVATIONS`."""
    for frontend, modules in MODULES.items():
        text = "".join((FRONTENDS / m).read_text() for m in modules)
        assert ".activation(" in text or "ACTIVATIONS" in text, frontend


def test_every_reason_is_given() -> None:
    for table in (NOT_EXPRESSIBLE, NOT_CONVERTED_YET):
        for reasons in table.values():
            assert all(len(r) > 20 for r in reasons.values())
