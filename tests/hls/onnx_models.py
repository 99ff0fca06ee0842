"""Small ONNX models the HLS tests build themselves (so CI without shared data tests something)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np


def _save(path: Path, graph: Any) -> None:
    """An opset-13 model of `graph`, IR version 10 (what onnxruntime here accepts), at `path`."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 10
    onnx.save(model, path)


def mlp(path: Path, sizes: tuple[int, ...], activations: tuple[str, ...], seed: int = 0) -> Path:
    """Gemm layers `sizes[0] -> ... -> sizes[-1]`, each followed by the ONNX activation
    `activations[i]` ('' for none); weights of a few units, so fixed-point types matter.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev = "x"
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = (rng.normal(size=(n_in, n_out)) / np.sqrt(n_in) * 1.5).astype(np.float32)
        b = (rng.normal(size=n_out) * 0.5).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = f"fc{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [out], name=out))
        prev = out
        act = activations[i]
        if act:
            attrs = {"axis": -1} if act == "Softmax" else {}
            nodes.append(
                helper.make_node(
                    act, [prev], [f"{act.lower()}{i}"], name=f"{act.lower()}{i}", **attrs
                )
            )
            prev = f"{act.lower()}{i}"
    _save(
        path,
        helper.make_graph(
            nodes,
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", sizes[0]])],
            [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", sizes[-1]])],
            inits,
        ),
    )
    return path


def conv2d(path: Path, seed: int = 0, depthwise: bool = False) -> Path:
    """NHWC input (Transpose to NCHW, as tf2onnx writes), Conv 3x3 stride 2 with padding and a
    dilated Conv 2x2, ReLU, Flatten, Gemm, Softmax.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = (rng.normal(size=(4, 2, 3, 3)) * 0.5).astype(np.float32)
    w2 = (rng.normal(size=(3, 4, 2, 2)) * 0.5).astype(np.float32)
    if depthwise:  # the second convolution: depthwise (group = channels), 4 channels out
        w2 = (rng.normal(size=(4, 1, 2, 2)) * 0.5).astype(np.float32)
    b1 = (rng.normal(size=4) * 0.3).astype(np.float32)
    b2 = (rng.normal(size=w2.shape[0]) * 0.3).astype(np.float32)
    wd = (rng.normal(size=(3 * 3 * w2.shape[0], 5)) * 0.5).astype(np.float32)
    bd = (rng.normal(size=5) * 0.3).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (wd, "wd"), (bd, "bd"))
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
        helper.make_node(
            "Conv",
            ["xt", "w1", "b1"],
            ["c1"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 0, 1, 2],
        ),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node(
            "Conv",
            ["r1", "w2", "b2"],
            ["c2"],
            kernel_shape=[2, 2],
            dilations=[1, 2],
            group=4 if depthwise else 1,
        ),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Transpose", ["r2"], ["r2t"], perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["r2t"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wd", "bd"], ["d"]),
        helper.make_node("Softmax", ["d"], ["y"], axis=-1),
    ]
    _save(
        path,
        helper.make_graph(
            nodes,
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7, 9, 2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
            inits,
        ),
    )
    return path


def elementwise(path: Path, seed: int = 0) -> Path:
    """Gemm, Relu, BatchNormalization (not foldable: after Relu), LeakyRelu, Gemm, Elu, Gemm,
    HardSigmoid: the element-wise layers with weights.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    arrays = {
        "w0": rng.normal(size=(8, 12)) * 0.6,
        "b0": rng.normal(size=12) * 0.3,
        "gamma": 1.0 + rng.normal(size=12) * 0.3,
        "beta": rng.normal(size=12) * 0.3,
        "mean": rng.normal(size=12) * 0.5,
        "var": 0.5 + rng.random(12),
        "w1": rng.normal(size=(12, 10)) * 0.5,
        "b1": rng.normal(size=10) * 0.3,
        "w2": rng.normal(size=(10, 6)) * 0.5,
        "b2": rng.normal(size=6) * 0.3,
    }
    inits = [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()]
    nodes = [
        helper.make_node("Gemm", ["x", "w0", "b0"], ["d0"], name="fc0"),
        helper.make_node("Relu", ["d0"], ["r0"], name="relu0"),
        helper.make_node(
            "BatchNormalization", ["r0", "gamma", "beta", "mean", "var"], ["bn"], name="bn"
        ),
        helper.make_node("LeakyRelu", ["bn"], ["lr"], name="leaky", alpha=0.15),
        helper.make_node("Gemm", ["lr", "w1", "b1"], ["d1"], name="fc1"),
        helper.make_node("Elu", ["d1"], ["e1"], name="elu", alpha=0.8),
        helper.make_node("Gemm", ["e1", "w2", "b2"], ["d2"], name="fc2"),
        helper.make_node("HardSigmoid", ["d2"], ["y"], name="hsig", alpha=0.25, beta=0.4),
    ]
    _save(
        path,
        helper.make_graph(
            nodes,
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])],
            inits,
        ),
    )
    return path


def pooling(
    path: Path,
    global_op: str = "GlobalAveragePool",
    count_pad: int = 0,
    seed: int = 0,
    *,
    channels: int = 2,
    kernel: int = 3,
) -> Path:
    """NHWC input (9x7x`channels`), Conv `kernel`x`kernel` ('same'), MaxPool 2x2 with padding,
    Relu, AveragePool 3x3 stride 2 with padding (counted or not: its windows hold 4, 6 or 9
    pixels), GlobalAveragePool or GlobalMaxPool, Gemm.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = (rng.normal(size=(3, channels, kernel, kernel)) * 0.5).astype(np.float32)
    b1 = (rng.normal(size=3) * 0.3).astype(np.float32)
    wd = (rng.normal(size=(3, 4)) * 0.5).astype(np.float32)
    bd = (rng.normal(size=4) * 0.3).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (wd, "wd"), (bd, "bd"))
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
        helper.make_node(
            "Conv",
            ["xt", "w1", "b1"],
            ["c1"],
            kernel_shape=[kernel, kernel],
            pads=[kernel // 2] * 4,
        ),
        helper.make_node(
            "MaxPool", ["c1"], ["m1"], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1]
        ),
        helper.make_node("Relu", ["m1"], ["r1"]),
        helper.make_node(
            "AveragePool",
            ["r1"],
            ["a1"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            count_include_pad=count_pad,
        ),
        helper.make_node(global_op, ["a1"], ["g1"]),
        helper.make_node("Flatten", ["g1"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wd", "bd"], ["y"]),
    ]
    _save(
        path,
        helper.make_graph(
            nodes,
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 9, 7, channels])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
            inits,
        ),
    )
    return path


def merges(path: Path, seed: int = 0) -> Path:
    """Branches from one input merged by Add, Mul and a 3-input Concat (axis -1), then Gemm."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    arrays = {f"w{i}": rng.normal(size=(6, 5)) * 0.6 for i in range(3)}
    arrays |= {f"b{i}": rng.normal(size=5) * 0.3 for i in range(3)}
    arrays |= {"wd": rng.normal(size=(15, 3)) * 0.5, "bd": rng.normal(size=3) * 0.3}
    inits = [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()]
    nodes = [
        helper.make_node("Gemm", ["x", f"w{i}", f"b{i}"], [f"d{i}"], name=f"fc{i}")
        for i in range(3)
    ]
    nodes += [
        helper.make_node("Relu", ["d0"], ["r0"], name="relu0"),
        helper.make_node("Add", ["r0", "d1"], ["s"], name="add"),
        helper.make_node("Mul", ["s", "d2"], ["p"], name="mul"),
        helper.make_node("Concat", ["p", "d2", "r0"], ["c"], name="concat", axis=-1),
        helper.make_node("Gemm", ["c", "wd", "bd"], ["y"], name="fc_out"),
    ]
    _save(
        path,
        helper.make_graph(
            nodes,
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
            inits,
        ),
    )
    return path


def transpose(path: Path, seed: int = 0) -> Path:
    """(N, 4, 3, 5) input: Relu, Transpose (2, 0, 1) of the per-sample axes, Flatten, Gemm."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    wd = (rng.normal(size=(60, 4)) * 0.3).astype(np.float32)
    bd = (rng.normal(size=4) * 0.3).astype(np.float32)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Flatten", ["t"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wd", "bd"], ["y"]),
    ]
    _save(
        path,
        helper.make_graph(
            nodes,
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 3, 5])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
            [numpy_helper.from_array(wd, "wd"), numpy_helper.from_array(bd, "bd")],
        ),
    )
    return path


def _same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def convnet(
    path: Path, rank: int, padding: str, stride: int, seed: int = 0, dense: bool = True
) -> Path:
    """Channels-last input ((16, 3) for rank 1, (7, 8, 2) for rank 2) moved to NC(H)W, Conv 3
    wide with `stride` and 'same' (Keras: extra pixel at the end) or 'valid' padding, Relu,
    MaxPool 2 (stride 2, padded at the end when odd), Conv 2 wide (valid), back to channels
    last, Flatten, Gemm (unless not `dense`), Softmax.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    spatial = (16,) if rank == 1 else (7, 8)
    chans = 3 if rank == 1 else 2
    k1, k2 = (3,) * rank, (2,) * rank
    if padding == "same":
        pairs = [_same_pads(s, 3, stride) for s in spatial]
        pads1 = [p[0] for p in pairs] + [p[1] for p in pairs]
    else:
        pads1 = [0] * (2 * rank)
    out1 = [(s + pads1[i] + pads1[rank + i] - 3) // stride + 1 for i, s in enumerate(spatial)]
    pool_pads = [0] * rank + [o % 2 for o in out1]
    out2 = [(o + p) // 2 for o, p in zip(out1, pool_pads[rank:], strict=True)]
    out3 = [o - 1 for o in out2]
    w1 = (rng.normal(size=(4, chans, *k1)) * 0.5).astype(np.float32)
    b1 = (rng.normal(size=4) * 0.3).astype(np.float32)
    w2 = (rng.normal(size=(3, 4, *k2)) * 0.5).astype(np.float32)
    b2 = (rng.normal(size=3) * 0.3).astype(np.float32)
    n_flat = 3 * int(np.prod(out3))
    wd = (rng.normal(size=(n_flat, 5)) * 0.5).astype(np.float32)
    bd = (rng.normal(size=5) * 0.3).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (wd, "wd"), (bd, "bd"))
    ]
    to_first = [0, rank + 1, *range(1, rank + 1)]
    to_last = [0, *range(2, rank + 2), 1]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=to_first),
        helper.make_node(
            "Conv",
            ["xt", "w1", "b1"],
            ["c1"],
            kernel_shape=list(k1),
            strides=[stride] * rank,
            pads=pads1,
        ),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node(
            "MaxPool", ["r1"], ["m1"], kernel_shape=[2] * rank, strides=[2] * rank, pads=pool_pads
        ),
        helper.make_node("Conv", ["m1", "w2", "b2"], ["c2"], kernel_shape=list(k2)),
        helper.make_node("Transpose", ["c2"], ["c2t"], perm=to_last),
        helper.make_node("Flatten", ["c2t"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wd", "bd"], ["d"]),
        helper.make_node("Softmax", ["d" if dense else "f"], ["y"], axis=-1),
    ]
    if not dense:
        del nodes[-2]
        inits = inits[:4]
    _save(
        path,
        helper.make_graph(
            nodes,
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *spatial, chans])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5 if dense else n_flat])],
            inits,
        ),
    )
    return path


def branches(path: Path, seed: int = 0) -> Path:
    """A residual block and concatenations: (6, 5, 3) channels-last input feeding two Convs;
    Conv 3x3 'same' -> Relu (r) -> Conv 3x3 'same' -> Add with r (skip connection) ->
    Multiply by r; that, r and a 1x1 Conv of the input concatenated on channels (3 inputs),
    that concatenated with itself along the rows, Relu, Flatten, Gemm.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    arrays = {
        "wa": rng.normal(size=(4, 3, 3, 3)) * 0.5,
        "ba": rng.normal(size=4) * 0.3,
        "wb": rng.normal(size=(4, 4, 3, 3)) * 0.4,
        "bb": rng.normal(size=4) * 0.3,
        "wc": rng.normal(size=(2, 3, 1, 1)) * 0.5,
        "bc": rng.normal(size=2) * 0.3,
        "wd": rng.normal(size=(12 * 5 * 10, 4)) * 0.1,
        "bd": rng.normal(size=4) * 0.3,
    }
    inits = [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
        helper.make_node(
            "Conv",
            ["xt", "wa", "ba"],
            ["ca"],
            name="conv_a",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Relu", ["ca"], ["r"], name="relu_a"),
        helper.make_node(
            "Conv", ["r", "wb", "bb"], ["cb"], name="conv_b", kernel_shape=[3, 3], pads=[1, 1, 1, 1]
        ),
        helper.make_node("Add", ["cb", "r"], ["s"], name="add"),
        helper.make_node("Mul", ["s", "r"], ["m"], name="mul"),
        helper.make_node("Conv", ["xt", "wc", "bc"], ["cc"], name="conv_c", kernel_shape=[1, 1]),
        helper.make_node("Concat", ["m", "r", "cc"], ["cat"], name="concat", axis=1),
        helper.make_node("Concat", ["cat", "cat"], ["rows"], name="concat_rows", axis=2),
        helper.make_node("Relu", ["rows"], ["rr"], name="relu_rows"),
        helper.make_node("Transpose", ["rr"], ["rt"], perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["rt"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wd", "bd"], ["y"], name="fc_out"),
    ]
    _save(
        path,
        helper.make_graph(
            nodes,
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6, 5, 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
            inits,
        ),
    )
    return path


def softmax_rows(path: Path) -> Path:
    """Softmax over the last axis of a (4, 3) tensor per sample (one softmax per row)."""
    from onnx import TensorProto, helper

    _save(
        path,
        helper.make_graph(
            [helper.make_node("Softmax", ["x"], ["y"], axis=-1)],
            path.stem,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 3])],
        ),
    )
    return path
