"""Models for the sequence-batching and warm-up tests (written into a repository folder).

- `accumulator_onnx`: an ONNX running sum with implicit state and control inputs:
  ``OUTPUT = STATE_IN * (1 - START) + INPUT * READY``, ``STATE_OUT = OUTPUT``,
  ``CORR_OUT = float(CORRID)``; Triton's sequence batcher feeds START/READY/CORRID and the state.
- `ACCUMULATOR_PY`: the same sum in a python-backend model keeping its state per CORRID (the
  Triton peer has only the python backend, so this one is served by both servers).
- `COUNTER_PY`: counts its executions, rows and input sum (what warm-up did before READY).
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def accumulator_onnx(path: Path) -> Path:
    """The ONNX accumulator (batch axis free) saved at `path`."""
    f, i32, u64 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.UINT64
    inputs = [
        helper.make_tensor_value_info("INPUT", f, ["N", 2]),
        helper.make_tensor_value_info("START", i32, ["N", 1]),
        helper.make_tensor_value_info("READY", i32, ["N", 1]),
        helper.make_tensor_value_info("CORRID", u64, ["N", 1]),
        helper.make_tensor_value_info("STATE_IN", f, ["N", 2]),
    ]
    outputs = [
        helper.make_tensor_value_info("OUTPUT", f, ["N", 2]),
        helper.make_tensor_value_info("STATE_OUT", f, ["N", 2]),
        helper.make_tensor_value_info("CORR_OUT", f, ["N", 1]),
    ]
    one = helper.make_tensor("one", f, [], [1.0])
    nodes = [
        helper.make_node("Cast", ["START"], ["start_f"], to=f),
        helper.make_node("Cast", ["READY"], ["ready_f"], to=f),
        helper.make_node("Sub", ["one", "start_f"], ["keep"]),
        helper.make_node("Mul", ["STATE_IN", "keep"], ["kept"]),
        helper.make_node("Mul", ["INPUT", "ready_f"], ["added"]),
        helper.make_node("Add", ["kept", "added"], ["OUTPUT"]),
        helper.make_node("Identity", ["OUTPUT"], ["STATE_OUT"]),
        helper.make_node("Cast", ["CORRID"], ["CORR_OUT"], to=f),
    ]
    graph = helper.make_graph(nodes, "accumulator", inputs, outputs, [one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def accumulator_config(name: str, strategy: str, idle_us: int = 1_000_000) -> str:
    """config.pbtxt of the ONNX accumulator with a sequence batcher of `strategy`."""
    return f"""
name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [{{ name: "INPUT" data_type: TYPE_FP32 dims: [2] }}]
output [{{ name: "OUTPUT" data_type: TYPE_FP32 dims: [2] }},
        {{ name: "CORR_OUT" data_type: TYPE_FP32 dims: [1] }}]
sequence_batching {{
  max_sequence_idle_microseconds: {idle_us}
  {strategy} {{ max_queue_delay_microseconds: 2000 }}
  control_input [
    {{ name: "START" control [{{ kind: CONTROL_SEQUENCE_START int32_false_true: [0, 1] }}] }},
    {{ name: "READY" control [{{ kind: CONTROL_SEQUENCE_READY int32_false_true: [0, 1] }}] }},
    {{ name: "CORRID" control [{{ kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 }}] }}
  ]
  state [{{ input_name: "STATE_IN" output_name: "STATE_OUT" data_type: TYPE_FP32 dims: [2] }}]
}}
"""


ACCUMULATOR_PY = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.sums = {}

    def execute(self, requests):
        responses = []
        for request in requests:
            def get(name):
                return pb_utils.get_input_tensor_by_name(request, name).as_numpy()
            x = get("INPUT")
            start, end, ready = (int(get(n).reshape(-1)[0]) for n in ("START", "END", "READY"))
            key = int(get("CORRID").reshape(-1)[0])
            if start:
                self.sums[key] = np.zeros_like(x)
            self.sums[key] = self.sums[key] + x * ready
            out = self.sums[key].copy()
            if end:
                del self.sums[key]
            flags = np.array([[start, end, ready]], dtype=np.int32)
            corr = np.array([[key]], dtype=np.uint64)
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("OUTPUT", out),
                pb_utils.Tensor("FLAGS", flags),
                pb_utils.Tensor("CORR_OUT", corr),
            ]))
        return responses
"""

ACCUMULATOR_PY_CONFIG = """
backend: "python"
max_batch_size: 4
input [{ name: "INPUT" data_type: TYPE_FP32 dims: [2] }]
output [{ name: "OUTPUT" data_type: TYPE_FP32 dims: [2] },
        { name: "FLAGS" data_type: TYPE_INT32 dims: [3] },
        { name: "CORR_OUT" data_type: TYPE_UINT64 dims: [1] }]
sequence_batching {
  max_sequence_idle_microseconds: 2000000
  oldest { max_candidate_sequences: 4 }
  control_input [
    { name: "START" control [{ kind: CONTROL_SEQUENCE_START int32_false_true: [0, 1] }] },
    { name: "END" control [{ kind: CONTROL_SEQUENCE_END int32_false_true: [0, 1] }] },
    { name: "READY" control [{ kind: CONTROL_SEQUENCE_READY int32_false_true: [0, 1] }] },
    { name: "CORRID" control [{ kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 }] }
  ]
}
"""

COUNTER_PY = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.calls = 0
        self.rows = 0
        self.total = 0.0

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            out = np.array([[self.calls, self.rows, self.total]], dtype=np.float64)
            self.calls += 1
            self.rows += x.shape[0]
            self.total += float(x.sum())
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.Tensor("OUTPUT", np.repeat(out, x.shape[0], axis=0))]
            ))
        return responses
"""

COUNTER_PY_CONFIG = """
backend: "python"
max_batch_size: 4
input [{ name: "INPUT" data_type: TYPE_FP32 dims: [2] }]
output [{ name: "OUTPUT" data_type: TYPE_FP64 dims: [3] }]
model_warmup [
  { name: "zeros" batch_size: 3 count: 2
    inputs { key: "INPUT" value { data_type: TYPE_FP32 dims: [2] zero_data: true } } },
  { name: "file" batch_size: 2
    inputs { key: "INPUT" value { data_type: TYPE_FP32 dims: [2] input_data_file: "in.bin" } } }
]
"""

FAILING_PY = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        raise pb_utils.TritonModelException("cannot run on warm-up data")
"""

FAILING_PY_CONFIG = """
backend: "python"
max_batch_size: 4
input [{ name: "INPUT" data_type: TYPE_FP32 dims: [2] }]
output [{ name: "OUTPUT" data_type: TYPE_FP32 dims: [2] }]
model_warmup [{ name: "w" batch_size: 1
  inputs { key: "INPUT" value { data_type: TYPE_FP32 dims: [2] random_data: true } } }]
"""


def write_model(repo: Path, name: str, config: str, files: dict[str, bytes | str]) -> Path:
    """A model folder `repo/name` with its config.pbtxt and `files` (relative path -> content)."""
    folder = repo / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(config)
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return folder
