"""Small ONNX models the HLS tests build themselves (so CI without shared data tests something)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np


def mlp(path: Path, sizes: tuple[int, ...], activations: tuple[str, ...], seed: int = 0) -> Path:
    """Gemm layers `sizes[0] -> ... -> sizes[-1]`, each followed by the ONNX activation
    `activations[i]` ('' for none); weights of a few units, so fixed-point types matter."""
    import onnx
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
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", sizes[0]])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", sizes[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 10
    onnx.save(model, path)
    return path
