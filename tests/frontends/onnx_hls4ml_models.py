"""ONNX models for the comparison with hls4ml 1.3's ONNX converter (`test_onnx_hls4ml.py`).

Channels-first models as exporters write them, every node named as QONNX's clean-up renames it
(`<op type>_<i>`), so one per-layer configuration names the same layers in hepinfer (which
reads the model as it is) and in hls4ml (which reads QONNX's cleaned, channels-last form).
Weights are random; every Conv carries its full attributes (QONNX's channels-last Conv needs
them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.frontends.onnx_ops_models import QONNX, int64, model, node


def _conv(inputs: list[str], out: str, k: int, rank: int, **attrs: Any) -> Any:
    attrs.setdefault("pads", [0] * (2 * rank))
    attrs.setdefault("strides", [1] * rank)
    attrs.setdefault("group", 1)
    return node("Conv", inputs, out, kernel_shape=[k] * rank, dilations=[1] * rank, **attrs)


#: the activations of hls4ml 1.3's ONNX table (`converters/onnx/core.py`) with their attributes
#: (not PRelu: hls4ml 1.3's conversion fails on it, see docs/coverage.md)
ACTIVATIONS: list[tuple[str, dict[str, Any]]] = [
    ("Elu", {"alpha": 0.75}),
    ("Selu", {}),
    ("Softsign", {}),
    ("Softplus", {}),
    ("ThresholdedRelu", {"alpha": 0.5}),
    ("Sigmoid", {}),
]


def tagger(seed: int = 0) -> Any:
    """Every ONNX family hls4ml 1.3 converts correctly after QONNX's clean-up, in one model.

    Input (N, 2, 8, 8): Conv 3x3 (pads 1) -> BatchNormalization -> Relu -> MaxPool 2x2 -> depthwise Conv 3x3 (group =
    channels, pads 1) -> LeakyRelu -> Reshape to (N, 4, 16) -> Conv 1D (k 3, stride 2) ->
    BatchNormalization -> Tanh -> Flatten -> QONNX Quant (8 bits, scale 2**-4) -> MatMul
    (Quant'd 6-bit weights) + Add -> Relu; one MatMul + Add (8 -> 8) and one activation of
    `ACTIVATIONS` each; two branches a = Relu(MatMul + Add), b = Tanh(MatMul + Add) and their
    Add, Sub, Mul, Max, Min and Sum, concatenated two at a time (hls4ml merges two tensors);
    Mul / Div / Sub / Add by constants; Gemm (36 -> 5) -> Softmax. Outputs: the Gemm's logits
    and the Softmax.
    """
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)

    def normal(*shape: int, scale: float = 0.5) -> np.ndarray:
        return rng.normal(size=shape) * scale

    def bn(c: int) -> dict[str, np.ndarray]:
        return {
            f"g{c}": rng.uniform(0.5, 1.5, size=c),
            f"be{c}": normal(c, scale=0.3),
            f"mu{c}": normal(c, scale=0.3),
            f"var{c}": rng.uniform(0.5, 2, size=c),
        }

    inits: dict[str, np.ndarray] = {
        "w_c0": normal(4, 2, 3, 3, scale=0.4),
        "b_c0": normal(4, scale=0.2),
        **bn(4),
        "w_c1": normal(4, 1, 3, 3),
        "b_c1": normal(4, scale=0.2),
        "w_c2": normal(5, 4, 3, scale=0.4),
        "b_c2": normal(5, scale=0.2),
        **bn(5),
        "s_in": np.array(2.0**-4),
        "s_w": np.array(2.0**-4),
        "z": np.array(0.0),
        "bits8": np.array(8.0),
        "bits6": np.array(6.0),
        "w_q": normal(35, 8, scale=0.3),
        "b_q": normal(8, scale=0.2),
        "k_mul": np.array(0.75),
        "k_div": np.array(2.5),
        "k_sub": np.array(0.375),
        "k_add": normal(36),
        "w_g": normal(5, 36, scale=2.0),
        "b_g": normal(5, scale=0.2),
    }
    q = {"domain": QONNX, "signed": 1, "narrow": 0, "rounding_mode": "ROUND"}
    nodes = [
        _conv(["x", "w_c0", "b_c0"], "Conv_0", 3, 2, pads=[1, 1, 1, 1]),
        node("BatchNormalization", ["Conv_0", "g4", "be4", "mu4", "var4"], "BatchNormalization_0"),
        node("Relu", ["BatchNormalization_0"], "Relu_0"),
        node("MaxPool", ["Relu_0"], "MaxPool_0", kernel_shape=[2, 2], strides=[2, 2], pads=[0] * 4),
        _conv(["MaxPool_0", "w_c1", "b_c1"], "Conv_1", 3, 2, group=4, pads=[1, 1, 1, 1]),
        node("LeakyRelu", ["Conv_1"], "LeakyRelu_0", alpha=0.25),
        node("Reshape", ["LeakyRelu_0", "shape"], "Reshape_0"),
        _conv(["Reshape_0", "w_c2", "b_c2"], "Conv_2", 3, 1, strides=[2]),
        node("BatchNormalization", ["Conv_2", "g5", "be5", "mu5", "var5"], "BatchNormalization_1"),
        node("Tanh", ["BatchNormalization_1"], "Tanh_0"),
        node("Flatten", ["Tanh_0"], "Flatten_0", axis=1),
        node("Quant", ["Flatten_0", "s_in", "z", "bits8"], "Quant_0", **q),
        node("Quant", ["w_q", "s_w", "z", "bits6"], "Quant_1", **q),
        node("MatMul", ["Quant_0", "Quant_1"], "MatMul_0"),
        node("Add", ["MatMul_0", "b_q"], "Add_0"),
        node("Relu", ["Add_0"], "Relu_1"),
    ]
    last = "Relu_1"
    for i, (op, attrs) in enumerate(ACTIVATIONS, start=1):
        inits[f"w{i}"] = normal(8, 8, scale=1.0)
        inits[f"b{i}"] = normal(8, scale=0.2)
        nodes += [
            node("MatMul", [last, f"w{i}"], f"MatMul_{i}"),
            node("Add", [f"MatMul_{i}", f"b{i}"], f"Add_{i}"),
            node(op, [f"Add_{i}"], f"{op}_0", **attrs),
        ]
        last = f"{op}_0"
    n = len(ACTIVATIONS) + 1
    inits |= {"wa": normal(8, 6, scale=2.0), "ba": normal(6, scale=0.2)}
    inits |= {"wb": normal(8, 6, scale=2.0), "bb": normal(6, scale=0.2)}
    pairs = [f"Add_{n + 2}", "Sub_0", "Mul_0", "Max_0", "Min_0", "Sum_0"]
    nodes += [
        node("MatMul", [last, "wa"], f"MatMul_{n}"),
        node("Add", [f"MatMul_{n}", "ba"], f"Add_{n}"),
        node("Relu", [f"Add_{n}"], "Relu_2"),
        node("MatMul", [last, "wb"], f"MatMul_{n + 1}"),
        node("Add", [f"MatMul_{n + 1}", "bb"], f"Add_{n + 1}"),
        node("Tanh", [f"Add_{n + 1}"], "Tanh_1"),
        *(node(p.split("_")[0], ["Relu_2", "Tanh_1"], p) for p in pairs),
        node("Concat", pairs[0:2], "Concat_0", axis=-1),
        node("Concat", pairs[2:4], "Concat_1", axis=-1),
        node("Concat", pairs[4:6], "Concat_2", axis=-1),
        node("Concat", ["Concat_0", "Concat_1"], "Concat_3", axis=-1),
        node("Concat", ["Concat_3", "Concat_2"], "Concat_4", axis=-1),
        node("Mul", ["Concat_4", "k_mul"], "Mul_1"),
        node("Div", ["Mul_1", "k_div"], "Div_0"),
        node("Sub", ["Div_0", "k_sub"], "Sub_1"),
        node("Add", ["Sub_1", "k_add"], f"Add_{n + 3}"),
        node("Gemm", [f"Add_{n + 3}", "w_g", "b_g"], "Gemm_0", transB=1),
        node("Softmax", ["Gemm_0"], "Softmax_0", axis=-1),
    ]
    m = model(nodes, inits, [1, 2, 8, 8], "Gemm_0")
    # the logits too: the softmax's table lookup would hide low bits of a difference before it
    m.graph.output.append(helper.make_tensor_value_info("Softmax_0", TensorProto.FLOAT, None))
    int64(m, "shape", [-1, 4, 16])
    m.opset_import.append(helper.make_opsetid(QONNX, 1))
    return m


def padded(seed: int = 0) -> Any:
    """Pad (1 each side of the spatial axes) -> Flatten -> MatMul (-> 4) on (N, 2, 4, 4).

    No channels-last node: hls4ml 1.3 reads a Pad as channels-last as soon as the model has one.
    """
    rng = np.random.default_rng(seed)
    nodes = [
        node("Pad", ["x", "pads"], "Pad_0", mode="constant"),
        node("Flatten", ["Pad_0"], "Flatten_0", axis=1),
        node("MatMul", ["Flatten_0", "w"], "MatMul_0"),
    ]
    m = model(nodes, {"w": rng.normal(size=(2 * 6 * 6, 4)) * 0.2}, [1, 2, 4, 4], "MatMul_0")
    int64(m, "pads", [0, 0, 1, 1, 0, 0, 1, 1])
    return m
