"""ONNX models built in the tests with `onnx.helper` (random weights), and onnxruntime runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

CL_DOMAIN = "qonnx.custom_op.channels_last"


def model(
    nodes: Sequence[Any],
    inits: dict[str, np.ndarray],
    in_shape: Sequence[int | str],
    out: str,
    opset: int = 13,
) -> Any:
    """A model with input `x` of `in_shape` (batch first) and output `out`."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        list(nodes),
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()],
    )
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid(CL_DOMAIN, 1)]
    m = helper.make_model(graph, opset_imports=opsets)
    m.ir_version = 10
    return m


def run_ort(m: Any, x: np.ndarray) -> np.ndarray:
    """The output onnxruntime computes for model `m` on `x` (float32)."""
    import onnxruntime as ort

    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(None, {"x": x.astype(np.float32)})[0]
    return out


def node(op: str, inputs: Sequence[str], output: str, **attrs: Any) -> Any:
    """One node named after its output."""
    from onnx import helper

    domain = attrs.pop("domain", "")
    return helper.make_node(op, list(inputs), [output], name=output, domain=domain, **attrs)


def grouped_conv(rank: int, group: int, channels: int, filters: int, seed: int = 0) -> Any:
    """NHWC input -> Transpose -> Conv(group) -> Relu -> Conv(group 1) -> Flatten."""
    rng = np.random.default_rng(seed)
    k = (3,) * rank
    spatial = (9, 7)[:rank]
    w1 = rng.normal(size=(filters, channels // group, *k)) * 0.5
    w2 = rng.normal(size=(3, filters, *(2,) * rank)) * 0.5
    to_first = [0, rank + 1, *range(1, rank + 1)]
    nodes = [
        node("Transpose", ["x"], "xt", perm=to_first),
        node("Conv", ["xt", "w1", "b1"], "c1", group=group, pads=[1] * (2 * rank)),
        node("Relu", ["c1"], "r1"),
        node("Conv", ["r1", "w2", "b2"], "c2", strides=[2] * rank),
        node("Flatten", ["c2"], "y"),
    ]
    inits = {"w1": w1, "b1": rng.normal(size=filters) * 0.3, "w2": w2, "b2": np.zeros(3)}
    return model(nodes, inits, ["N", *spatial, channels], "y")


def keras2onnx_batchnorm(seed: int = 0) -> Any:
    """Gemm -> Transpose [1, 0] -> Unsqueeze(0) -> BN -> Squeeze(0) -> Transpose [1, 0] -> Relu."""
    rng = np.random.default_rng(seed)
    nodes = [
        node("Gemm", ["x", "w", "b"], "d"),
        node("Transpose", ["d"], "dt", perm=[1, 0]),
        node("Unsqueeze", ["dt", "ax"], "du"),
        node("BatchNormalization", ["du", "g", "be", "m", "v"], "bn"),
        node("Squeeze", ["bn", "ax"], "bs"),
        node("Transpose", ["bs"], "bt", perm=[1, 0]),
        node("Relu", ["bt"], "y"),
    ]
    inits = {
        "w": rng.normal(size=(6, 5)),
        "b": rng.normal(size=5),
        "g": rng.uniform(0.5, 2, size=5),
        "be": rng.normal(size=5),
        "m": rng.normal(size=5),
        "v": rng.uniform(0.5, 2, size=5),
        "ax": np.array([0]),
    }
    from onnx import numpy_helper

    m = model(nodes, {k: v for k, v in inits.items() if k != "ax"}, ["N", 6], "y")
    m.graph.initializer.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "ax"))
    return m


def channels_last_convnet(qonnx_form: bool, seed: int = 0) -> Any:
    """NCHW input -> Conv -> BN -> Relu -> MaxPool -> Flatten -> Gemm; with `qonnx_form`, the
    form QONNX's channels-last conversion writes (Transpose to NHWC, channels-last Conv, BN
    and MaxPool, Transpose back before Flatten).
    """
    rng = np.random.default_rng(seed)
    inits = {
        "w": rng.normal(size=(4, 3, 3, 3)) * 0.5,
        "b": rng.normal(size=4) * 0.3,
        "g": rng.uniform(0.5, 2, size=4),
        "be": rng.normal(size=4),
        "m": rng.normal(size=4),
        "v": rng.uniform(0.5, 2, size=4),
        "wd": rng.normal(size=(4 * 3 * 4, 5)) * 0.3,
        "bd": rng.normal(size=5),
    }
    d = {"domain": CL_DOMAIN} if qonnx_form else {}
    if qonnx_form:  # QONNX's channels-last Conv takes (F, kh, kw, C) weights
        inits["w"] = inits["w"].transpose(0, 2, 3, 1)
    first = "xl" if qonnx_form else "x"
    nodes = [node("Transpose", ["x"], "xl", perm=[0, 2, 3, 1])] if qonnx_form else []
    nodes += [
        node("Conv", [first, "w", "b"], "c", pads=[1, 1, 1, 1], **d),
        node("BatchNormalization", ["c", "g", "be", "m", "v"], "bn", **d),
        node("Relu", ["bn"], "r"),
        node("MaxPool", ["r"], "p", kernel_shape=[2, 2], strides=[2, 2], **d),
    ]
    last = "p"
    if qonnx_form:
        nodes.append(node("Transpose", ["p"], "pt", perm=[0, 3, 1, 2]))
        last = "pt"
    nodes += [node("Flatten", [last], "f"), node("Gemm", ["f", "wd", "bd"], "y")]
    return model(nodes, inits, ["N", 3, 6, 8], "y")


def int64(m: Any, name: str, values: Sequence[int]) -> None:
    """Add an int64 initializer (pads, axes, sizes) to model `m`."""
    from onnx import numpy_helper

    m.graph.initializer.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))


def arithmetic(seed: int = 0) -> Any:
    """(N, 3, 5, 4) input: Div by a scalar, Sub per channel, Conv, Mul per channel, Add scalar,
    c - x, Clip, Sum of three, Relu-like Clip(0), Flatten, Gemm, Mul of a scalar after it.
    """
    rng = np.random.default_rng(seed)
    inits = {
        "d": np.array(3.0),
        "mean": rng.normal(size=(3, 1, 1)),
        "w": rng.normal(size=(4, 3, 3, 3)) * 0.4,
        "b": rng.normal(size=4) * 0.2,
        "s": rng.uniform(0.5, 1.5, size=(1, 4, 1, 1)),
        "t": np.array([0.25]),
        "lo": np.array(-1.0),
        "hi": np.array(1.5),
        "zero": np.array(0.0),
        "wd": rng.normal(size=(4 * 3 * 1, 3)) * 0.3,
        "k": np.array(0.75),
    }
    nodes = [
        node("Div", ["x", "d"], "x1"),
        node("Sub", ["x1", "mean"], "x2"),
        node("Conv", ["x2", "w", "b"], "c", strides=[1, 2]),
        node("Mul", ["c", "s"], "m"),
        node("Add", ["t", "m"], "a"),
        node("Sub", ["t", "a"], "n"),
        node("Clip", ["n", "lo", "hi"], "cl"),
        node("Sum", ["cl", "a", "m"], "sm"),
        node("Clip", ["sm", "zero", ""], "r"),
        node("Flatten", ["r"], "f"),
        node("MatMul", ["f", "wd"], "g"),
        node("Mul", ["g", "k"], "y"),
    ]
    return model(nodes, inits, ["N", 3, 5, 4], "y")


def pad_resize(fold: bool, seed: int = 0) -> Any:
    """(N, 2, 4, 5): Pad -> Conv (folded) or Pad -> MaxPool (a layer), Resize x(2, 3), Conv."""
    rng = np.random.default_rng(seed)
    inits = {
        "w": rng.normal(size=(3, 2, 3, 3)) * 0.5,
        "b": rng.normal(size=3) * 0.2,
        "w2": rng.normal(size=(2, 3 if fold else 2, 2, 2)) * 0.5,
        "b2": rng.normal(size=2) * 0.2,
        "scales": np.array([1, 1, 2, 3]),
    }
    first = (
        [node("Conv", ["p", "w", "b"], "c", pads=[0, 1, 0, 0])]
        if fold
        else [node("MaxPool", ["p"], "c0", kernel_shape=[2, 2]), node("Relu", ["c0"], "c")]
    )
    nodes = [
        node("Pad", ["x", "pads"], "p"),
        *first,
        node("Resize", ["c", "", "scales"], "u", mode="nearest"),
        node("Conv", ["u", "w2", "b2"], "c2", strides=[2, 2]),
        node("Flatten", ["c2"], "y"),
    ]
    m = model(nodes, inits, ["N", 2, 4, 5], "y")
    int64(m, "pads", [0, 0, 1, 2, 0, 0, 2, 0])
    return m


QONNX = "qonnx.custom_op.general"


def qonnx_binary(seed: int = 0) -> tuple[Any, Any]:
    """(model, its QONNX reference in numpy): Quant -> MatMul(BipolarQuant weights) -> Trunc ->
    IntQuant -> BipolarQuant activation -> MatMul(1-bit IntQuant weights).
    """
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=(8, 6)), rng.normal(size=(6, 3))
    inits = {
        "w1f": w1,
        "w2f": w2,
        "s0": np.array(0.125),
        "s1": np.array(0.5),
        "z": np.array(0.0),
        "b6": np.array(6.0),
        "b1": np.array(1.0),
        "s_h": np.array(0.0625),
        "in_b": np.array(12.0),
        "s_t": np.array(0.5),
        "out_b": np.array(4.0),
        "s_i": np.array(0.25),
        "b5": np.array(5.0),
        "one": np.array(1.0),
    }
    q = {"domain": QONNX}
    nodes = [
        node("Quant", ["x", "s0", "z", "b6"], "q0", signed=1, narrow=0, rounding_mode="ROUND", **q),
        node("BipolarQuant", ["w1f", "s1"], "w1", **q),
        node("MatMul", ["q0", "w1"], "h1"),
        node(
            "Trunc",
            ["h1", "s_h", "z", "in_b", "s_t", "z", "out_b"],
            "t",
            rounding_mode="FLOOR",
            signed=1,
            narrow=0,
            **q,
        ),
        node(
            "IntQuant",
            ["t", "s_i", "z", "b5"],
            "iq",
            signed=1,
            narrow=1,
            rounding_mode="ROUND",
            **q,
        ),
        node("BipolarQuant", ["iq", "one"], "a", **q),
        node("IntQuant", ["w2f", "s1", "z", "b1"], "w2", signed=1, narrow=0, **q),
        node("MatMul", ["a", "w2"], "y"),
    ]
    m = model(nodes, inits, ["N", 8], "y")

    def reference(x: np.ndarray) -> np.ndarray:
        q0 = np.clip(np.round(x / 0.125), -32, 31) * 0.125
        h1 = q0 @ (np.where(w1 >= 0, 1.0, -1.0) * 0.5)
        t = np.floor(np.clip(np.round(h1 / 0.0625) / 8, -8, 7)) * 0.5
        iq = np.round(np.clip(t / 0.25, -15, 15)) * 0.25
        a = np.where(iq >= 0, 1.0, -1.0)
        out: np.ndarray = a @ (np.where(w2 >= 0, 1.0, -1.0) * 0.5)
        return out

    return m, reference


def multithreshold(seed: int = 0) -> tuple[Any, Any]:
    """(model, numpy reference): Conv -> MultiThreshold (per channel, NCHW) -> Flatten -> Gemm."""
    rng = np.random.default_rng(seed)
    f32 = np.float32  # the model stores float32: the reference uses the same values
    w = (rng.normal(size=(3, 2, 2, 2)) * 0.5).astype(f32).astype(float)
    thr = np.sort(rng.normal(size=(3, 5)), axis=1).astype(f32).astype(float)
    wd = (rng.normal(size=(3 * 3 * 4, 4)) * 0.3).astype(f32).astype(float)
    nodes = [
        node("Conv", ["x", "w"], "c"),
        node(
            "MultiThreshold",
            ["c", "thr"],
            "mt",
            domain=QONNX,
            out_scale=0.5,
            out_bias=-1.0,
            out_dtype="INT4",
        ),
        node("Flatten", ["mt"], "f"),
        node("MatMul", ["f", "wd"], "y"),
    ]
    m = model(nodes, {"w": w, "thr": thr, "wd": wd}, ["N", 2, 4, 5], "y")

    def reference(x: np.ndarray) -> np.ndarray:
        c = om_conv(x, w)
        k = (c[..., None] >= thr[None, :, None, None, :]).sum(axis=-1)
        out: np.ndarray = (0.5 * k - 1.0).reshape(len(x), -1) @ wd
        return out

    return m, reference


def om_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A valid, stride-1 NCHW convolution (the reference for `multithreshold`)."""
    f, _, kh, kw = w.shape
    h, wd = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros((len(x), f, h, wd))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,fc->nfhw", x[:, :, i : i + h, j : j + wd], w[:, :, i, j])
    return out


def mean(op: str = "Mean", inputs: int = 2, seed: int = 0) -> Any:
    """(N, 6) input: two MatMuls, the `op` (Mean, or hls4ml's Average) of them (or of the
    first `inputs` of three), a Mean of one tensor, Relu.
    """
    rng = np.random.default_rng(seed)
    inits = {f"w{i}": rng.normal(size=(6, 5)) * 0.5 for i in range(3)}
    nodes = [node("MatMul", ["x", f"w{i}"], f"h{i}") for i in range(3)]
    nodes += [
        node(op, [f"h{i}" for i in range(inputs)], "avg"),
        node("Mean", ["avg"], "same"),
        node("Relu", ["same"], "y"),
    ]
    return model(nodes, inits, ["N", 6], "y")
