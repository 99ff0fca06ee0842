"""The demo's default model: a 16-64-32-32-5 ReLU/softmax MLP trained in numpy, saved as ONNX.

Training is plain mini-batch Adam on the cross-entropy, with He initialisation and a fixed
seed, so the same weights come out of every run. `to_onnx` writes Gemm/Relu/Softmax nodes with
`onnx.helper` (IR version 10, opset 13, a dynamic batch dimension), the form PyTorch's exporter
gives, so every consumer of ONNX (hepinfer's compiler, onnxruntime, hls4ml) reads it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hepinfer.demo.data import DataSet

LAYERS = (16, 64, 32, 32, 5)
INPUT_NAME = "input"
OUTPUT_NAME = "softmax"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Mlp:
    """Weights (in, out) and biases of each Dense layer; ReLU between, softmax at the end."""

    weights: tuple[FloatArray, ...]
    biases: tuple[FloatArray, ...]

    def logits(self, x: FloatArray) -> FloatArray:
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return h

    def predict(self, x: FloatArray) -> FloatArray:
        z = self.logits(x)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out: FloatArray = e / e.sum(axis=1, keepdims=True)
        return out


def train(
    data: DataSet,
    *,
    epochs: int = 8,
    batch: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    progress: Callable[[Iterable[int]], Iterable[int]] = lambda it: it,
) -> Mlp:
    """Adam on the cross-entropy; `progress` wraps the epoch loop (e.g. with tqdm)."""
    rng = np.random.default_rng(seed)
    ws = [rng.normal(0, np.sqrt(2.0 / n), (n, m)) for n, m in itertools.pairwise(LAYERS)]
    bs = [np.zeros(m) for m in LAYERS[1:]]
    params = [*ws, *bs]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    b1, b2, eps, step = 0.9, 0.999, 1e-8, 0
    x, y = data.x_train, data.y_train
    onehot = np.eye(LAYERS[-1])[y]
    n_layers = len(ws)
    for _ in progress(range(epochs)):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            acts = [x[idx]]
            for i in range(n_layers):
                z = acts[-1] @ ws[i] + bs[i]
                acts.append(np.maximum(z, 0.0) if i < n_layers - 1 else z)
            z = acts[-1]
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            delta = (p - onehot[idx]) / len(idx)
            grads_w: list[FloatArray] = [np.empty(0)] * n_layers
            grads_b: list[FloatArray] = [np.empty(0)] * n_layers
            for i in reversed(range(n_layers)):
                grads_w[i] = acts[i].T @ delta
                grads_b[i] = delta.sum(axis=0)
                if i:
                    delta = (delta @ ws[i].T) * (acts[i] > 0)
            step += 1
            for j, g in enumerate([*grads_w, *grads_b]):
                m1[j] = b1 * m1[j] + (1 - b1) * g
                m2[j] = b2 * m2[j] + (1 - b2) * g * g
                update = lr * (m1[j] / (1 - b1**step)) / (np.sqrt(m2[j] / (1 - b2**step)) + eps)
                params[j] -= update
    # weights as float32 values: what the ONNX file stores, so every consumer sees the same
    f32 = [p.astype(np.float32).astype(np.float64) for p in params]
    return Mlp(tuple(f32[:n_layers]), tuple(f32[n_layers:]))


def to_onnx(mlp: Mlp, path: Path) -> Path:
    """Write `mlp` as ONNX (Gemm with transB=1, Relu, Softmax; batch dimension 'N')."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = []
    inits = []
    prev = INPUT_NAME
    n = len(mlp.weights)
    for i, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        name = f"fc{i + 1}"
        inits.append(numpy_helper.from_array(w.T.astype(np.float32), f"{name}.weight"))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"{name}.bias"))
        out = f"{name}_out"
        nodes.append(
            helper.make_node(
                "Gemm", [prev, f"{name}.weight", f"{name}.bias"], [out], name=name, transB=1
            )
        )
        prev = out
        if i < n - 1:
            nodes.append(helper.make_node("Relu", [prev], [f"relu{i + 1}"], name=f"relu{i + 1}"))
            prev = f"relu{i + 1}"
    nodes.append(helper.make_node("Softmax", [prev], [OUTPUT_NAME], name="softmax", axis=-1))
    graph = helper.make_graph(
        nodes,
        "jet_tagger",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", LAYERS[0]])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", LAYERS[-1]])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="hepinfer-demo"
    )
    model.ir_version = 10
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
