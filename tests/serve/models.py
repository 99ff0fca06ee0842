"""Small ONNX models and Triton repositories built for the server tests (onnx.helper)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10  # onnxruntime 1.31 refuses the IR version onnx 1.23 writes
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def scale_model(path: Path, factor: float, width: int = 4) -> None:
    """OUTPUT0 = factor * INPUT0, OUTPUT1 = INPUT0 + 1, shapes [N, width] (N dynamic)."""
    x = helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["N", width])
    y0 = helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, ["N", width])
    y1 = helper.make_tensor_value_info("OUTPUT1", TensorProto.FLOAT, ["N", width])
    k = numpy_helper.from_array(np.array(factor, np.float32), "k")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    nodes = [
        helper.make_node("Mul", ["INPUT0", "k"], ["OUTPUT0"]),
        helper.make_node("Add", ["INPUT0", "one"], ["OUTPUT1"]),
    ]
    _save(helper.make_graph(nodes, "scale", [x], [y0, y1], [k, one]), path)


def int_model(path: Path) -> None:
    """SUM = A + B, DIFF = A - B, INT32 tensors of shape [-1] (no batch dimension)."""
    a = helper.make_tensor_value_info("A", TensorProto.INT32, ["n"])
    b = helper.make_tensor_value_info("B", TensorProto.INT32, ["n"])
    s = helper.make_tensor_value_info("SUM", TensorProto.INT32, ["n"])
    d = helper.make_tensor_value_info("DIFF", TensorProto.INT32, ["n"])
    nodes = [
        helper.make_node("Add", ["A", "B"], ["SUM"]),
        helper.make_node("Sub", ["A", "B"], ["DIFF"]),
    ]
    _save(helper.make_graph(nodes, "ints", [a, b], [s, d]), path)


def string_model(path: Path) -> None:
    """TEXT_OUT = TEXT_IN (a BYTES identity), shape [N, 2]."""
    x = helper.make_tensor_value_info("TEXT_IN", TensorProto.STRING, ["N", 2])
    y = helper.make_tensor_value_info("TEXT_OUT", TensorProto.STRING, ["N", 2])
    _save(
        helper.make_graph([helper.make_node("Identity", ["TEXT_IN"], ["TEXT_OUT"])], "s", [x], [y]),
        path,
    )


SCALE_CONFIG = """
name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [{{ name: "INPUT0" data_type: TYPE_FP32 dims: [4] }}]
output [
  {{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [4] label_filename: "labels.txt" }},
  {{ name: "OUTPUT1" data_type: TYPE_FP32 dims: [4] }}
]
{extra}
"""


def build_repository(root: Path) -> Path:
    """A repository exercising batching, versions, ints, strings, labels and auto-complete."""
    # batching model with labels, dynamic batching with a queue delay
    scale_model(root / "scale" / "1" / "model.onnx", 2.0)
    (root / "scale" / "config.pbtxt").write_text(
        SCALE_CONFIG.format(
            name="scale",
            extra="dynamic_batching { max_queue_delay_microseconds: 10000 preferred_batch_size: [4] }",
        )
    )
    (root / "scale" / "labels.txt").write_text("alpha\nbeta\ngamma\ndelta\n")
    # three versions, policy: latest 2 -> versions 2 and 3 (factor = version)
    for v in (1, 2, 3):
        scale_model(root / "versioned" / str(v) / "model.onnx", float(v))
    (root / "versioned" / "config.pbtxt").write_text(
        SCALE_CONFIG.format(
            name="versioned", extra="version_policy { latest { num_versions: 2 } }"
        ).replace(' label_filename: "labels.txt"', "")
    )
    # no batching, variable dims, two instances
    int_model(root / "ints" / "1" / "model.onnx")
    (root / "ints" / "config.pbtxt").write_text(
        """
name: "ints"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [{ name: "A" data_type: TYPE_INT32 dims: [-1] }, { name: "B" data_type: TYPE_INT32 dims: [-1] }]
output [{ name: "SUM" data_type: TYPE_INT32 dims: [-1] }, { name: "DIFF" data_type: TYPE_INT32 dims: [-1] }]
instance_group [{ count: 2 kind: KIND_CPU }]
"""
    )
    string_model(root / "strings" / "1" / "model.onnx")
    (root / "strings" / "config.pbtxt").write_text(
        """
name: "strings"
backend: "onnxruntime"
max_batch_size: 4
input [{ name: "TEXT_IN" data_type: TYPE_STRING dims: [2] }]
output [{ name: "TEXT_OUT" data_type: TYPE_STRING dims: [2] }]
"""
    )
    # no config.pbtxt: auto-completed from the ONNX graph
    scale_model(root / "auto" / "1" / "model.onnx", 3.0, width=3)
    # a broken model: the server must keep serving the others
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx model")
    (root / "broken" / "config.pbtxt").write_text(
        SCALE_CONFIG.format(name="broken", extra="").replace(' label_filename: "labels.txt"', "")
    )
    return root


SLOW_WIDTH = 256
#: no dynamic batching, one instance: requests wait in the queue while one executes
SLOW_CONFIG = f"""name: "slow"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [{{ name: "X" data_type: TYPE_FP32 dims: [{SLOW_WIDTH}] }}]
output [{{ name: "Y" data_type: TYPE_FP32 dims: [{SLOW_WIDTH}] }}]
instance_group [{{ count: 1 kind: KIND_CPU }}]
"""


def slow_repository(root: Path, layers: int = 8) -> Path:
    """A chain of SLOW_WIDTH x SLOW_WIDTH MatMul + Tanh: a few hundred µs per request on one core."""
    rng = np.random.default_rng(0)
    nodes, inits, name = [], [], "X"
    for i in range(layers):
        w = (rng.standard_normal((SLOW_WIDTH, SLOW_WIDTH)) / np.sqrt(SLOW_WIDTH)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [name, f"w{i}"], [f"m{i}"]))
        name = "Y" if i == layers - 1 else f"t{i}"
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [name]))
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", SLOW_WIDTH])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", SLOW_WIDTH])
    model = helper.make_model(
        helper.make_graph(nodes, "slow", [x], [y], inits),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 10
    (root / "slow" / "1").mkdir(parents=True)
    onnx.save(model, str(root / "slow" / "1" / "model.onnx"))
    (root / "slow" / "config.pbtxt").write_text(SLOW_CONFIG)
    return root
