"""A DeepTau-like ensemble layout (as in the CMS SONIC repository), small and random.

``deeptau_ensemble`` = python pre-processing (``deeptau_python``) -> inner and outer cell
networks (ONNX, in parallel) -> core network (ONNX), with the steps listed out of order.
`reference` runs the same steps directly (numpy + onnxruntime) for the expected outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GRID = (5, 5, 3)
CELLS = int(np.prod(GRID))
FEATURES = 8
HIDDEN = 6
CLASSES = 4

PREPROCESS = """
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = config["parameters"]
        self.mean = np.array(json.loads(params["mean"]["string_value"]), np.float32)
        self.std = np.array(json.loads(params["std"]["string_value"]), np.float32)

    def execute(self, requests):
        responses = []
        for request in requests:
            tau = pb_utils.get_input_tensor_by_name(request, "tau_raw").as_numpy()
            tau = np.clip((tau - self.mean) / self.std, -5.0, 5.0).astype(np.float32)
            grids = []
            for name in ("inner_raw", "outer_raw"):
                cells = pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                flat = cells.reshape(cells.shape[0], -1)
                grids.append(np.sign(flat) * np.log1p(np.abs(flat)))
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("tau", tau),
                pb_utils.Tensor("inner_grid", grids[0].astype(np.float32)),
                pb_utils.Tensor("outer_grid", grids[1].astype(np.float32)),
            ]))
        return responses
"""


def preprocess(
    tau: np.ndarray, inner: np.ndarray, outer: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> dict[str, np.ndarray]:
    """What ``deeptau_python`` computes (for the expected outputs)."""
    out = {"tau": np.clip((tau - mean) / std, -5.0, 5.0).astype(np.float32)}
    for key, cells in (("inner_grid", inner), ("outer_grid", outer)):
        flat = cells.reshape(cells.shape[0], -1)
        out[key] = (np.sign(flat) * np.log1p(np.abs(flat))).astype(np.float32)
    return out


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _dense(
    rng: np.random.Generator, name: str, x: str, n_in: int, n_out: int, y: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    w = numpy_helper.from_array(rng.normal(size=(n_in, n_out)).astype(np.float32), f"{name}_w")
    b = numpy_helper.from_array(rng.normal(size=n_out).astype(np.float32), f"{name}_b")
    nodes = [
        helper.make_node("MatMul", [x, f"{name}_w"], [f"{name}_mm"]),
        helper.make_node("Add", [f"{name}_mm", f"{name}_b"], [y]),
    ]
    return nodes, [w, b]


def cell_network(path: Path, seed: int) -> None:
    """Feat [N, HIDDEN] = relu(grid [N, CELLS] @ W + b)."""
    rng = np.random.default_rng(seed)
    nodes, inits = _dense(rng, "d", "grid", CELLS, HIDDEN, "pre")
    nodes.append(helper.make_node("Relu", ["pre"], ["feat"]))
    x = helper.make_tensor_value_info("grid", TensorProto.FLOAT, ["N", CELLS])
    y = helper.make_tensor_value_info("feat", TensorProto.FLOAT, ["N", HIDDEN])
    _save(helper.make_graph(nodes, "cells", [x], [y], inits), path)


def core_network(path: Path, seed: int) -> None:
    """Probs [N, CLASSES] = softmax(concat(tau, inner, outer) @ W + b)."""
    rng = np.random.default_rng(seed)
    cat = helper.make_node("Concat", ["tau", "inner", "outer"], ["all"], axis=1)
    nodes, inits = _dense(rng, "d", "all", FEATURES + 2 * HIDDEN, CLASSES, "logits")
    nodes = [cat, *nodes, helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    ins = [
        helper.make_tensor_value_info("tau", TensorProto.FLOAT, ["N", FEATURES]),
        helper.make_tensor_value_info("inner", TensorProto.FLOAT, ["N", HIDDEN]),
        helper.make_tensor_value_info("outer", TensorProto.FLOAT, ["N", HIDDEN]),
    ]
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", CLASSES])
    _save(helper.make_graph(nodes, "core", ins, [y], inits), path)


def _dims(d: tuple[int, ...] | int) -> str:
    return str(list(d) if isinstance(d, tuple) else [d])


def _tensor(name: str, dims: tuple[int, ...] | int) -> str:
    return f'{{ name: "{name}" data_type: TYPE_FP32 dims: {_dims(dims)} }}'


def _onnx_config(name: str, ins: list[str], outs: list[str], batching: str = "") -> str:
    return (
        f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n'
        f"input [{', '.join(ins)}]\noutput [{', '.join(outs)}]\n{batching}\n"
    )


ENSEMBLE = """
name: "deeptau_ensemble"
platform: "ensemble"
max_batch_size: 8
input [{tau}, {inner}, {outer}]
output [{probs}, {tau_pre}]
ensemble_scheduling {{
  step [
    {{
      model_name: "deeptau_core"
      model_version: -1
      input_map {{ key: "tau" value: "tau_pre" }}
      input_map {{ key: "inner" value: "inner_feat" }}
      input_map {{ key: "outer" value: "outer_feat" }}
      output_map {{ key: "probs" value: "probs" }}
    }},
    {{
      model_name: "deeptau_inner"
      model_version: -1
      input_map {{ key: "grid" value: "inner_grid" }}
      output_map {{ key: "feat" value: "inner_feat" }}
    }},
    {{
      model_name: "deeptau_python"
      model_version: -1
      input_map {{ key: "tau_raw" value: "tau_raw" }}
      input_map {{ key: "inner_raw" value: "inner_raw" }}
      input_map {{ key: "outer_raw" value: "outer_raw" }}
      output_map {{ key: "tau" value: "tau_pre" }}
      output_map {{ key: "inner_grid" value: "inner_grid" }}
      output_map {{ key: "outer_grid" value: "outer_grid" }}
    }},
    {{
      model_name: "deeptau_outer"
      model_version: 1
      input_map {{ key: "grid" value: "outer_grid" }}
      output_map {{ key: "feat" value: "outer_feat" }}
    }}
  ]
}}
"""

MEAN = np.linspace(-1.0, 1.0, FEATURES).astype(np.float32)
STD = np.linspace(0.5, 2.0, FEATURES).astype(np.float32)


def build_deeptau(root: Path, core_batching: str = "") -> Path:
    """The four models and the ensemble in `root`; returns `root`."""
    import json

    cell_network(root / "deeptau_inner" / "1" / "model.onnx", 1)
    cell_network(root / "deeptau_outer" / "1" / "model.onnx", 2)
    core_network(root / "deeptau_core" / "1" / "model.onnx", 3)
    for name in ("deeptau_inner", "deeptau_outer"):
        (root / name / "config.pbtxt").write_text(
            _onnx_config(name, [_tensor("grid", CELLS)], [_tensor("feat", HIDDEN)])
        )
    (root / "deeptau_core" / "config.pbtxt").write_text(
        _onnx_config(
            "deeptau_core",
            [_tensor("tau", FEATURES), _tensor("inner", HIDDEN), _tensor("outer", HIDDEN)],
            [_tensor("probs", CLASSES)],
            core_batching,
        )
    )
    py = root / "deeptau_python"
    (py / "1").mkdir(parents=True)
    (py / "1" / "model.py").write_text(PREPROCESS)
    (py / "config.pbtxt").write_text(
        f'backend: "python"\nmax_batch_size: 8\n'
        f"input [{_tensor('tau_raw', FEATURES)}, {_tensor('inner_raw', GRID)}, "
        f"{_tensor('outer_raw', GRID)}]\n"
        f"output [{_tensor('tau', FEATURES)}, {_tensor('inner_grid', CELLS)}, "
        f"{_tensor('outer_grid', CELLS)}]\n"
        f'parameters {{ key: "mean" value: {{ string_value: "{json.dumps(MEAN.tolist())}" }} }}\n'
        f'parameters {{ key: "std" value: {{ string_value: "{json.dumps(STD.tolist())}" }} }}\n'
    )
    (root / "deeptau_ensemble" / "1").mkdir(parents=True)
    (root / "deeptau_ensemble" / "config.pbtxt").write_text(
        ENSEMBLE.format(
            tau=_tensor("tau_raw", FEATURES),
            inner=_tensor("inner_raw", GRID),
            outer=_tensor("outer_raw", GRID),
            probs=_tensor("probs", CLASSES),
            tau_pre=_tensor("tau_pre", FEATURES),
        )
    )
    return root


def reference(
    root: Path, tau: np.ndarray, inner: np.ndarray, outer: np.ndarray
) -> dict[str, np.ndarray]:
    """The ensemble's outputs computed by running its steps directly."""
    import onnxruntime as ort

    def run(name: str, feed: dict[str, np.ndarray]) -> np.ndarray:
        session = ort.InferenceSession(str(root / name / "1" / "model.onnx"))
        return np.asarray(session.run(None, feed)[0])

    pre = preprocess(tau, inner, outer, MEAN, STD)
    inner_feat = run("deeptau_inner", {"grid": pre["inner_grid"]})
    outer_feat = run("deeptau_outer", {"grid": pre["outer_grid"]})
    probs = run("deeptau_core", {"tau": pre["tau"], "inner": inner_feat, "outer": outer_feat})
    return {"probs": probs, "tau_pre": pre["tau"]}
