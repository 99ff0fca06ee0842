"""onnxruntime backend (Triton's ``onnxruntime_onnx`` platform / ``onnxruntime`` backend).

Each instance is one `InferenceSession`. Threads: ``intra_op_thread_count`` and
``inter_op_thread_count`` parameters as in Triton's onnxruntime backend; by default one
intra-op thread without spinning, since the server scales with instances and batching and
spinning threads steal cores from the front end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import MissingDependencyError, ProtocolError, ServeError
from hepinfer.serve.devices import CPU, Device

#: onnx TensorProto element type -> model-config data type
_ONNX_TO_CONFIG = {
    1: "TYPE_FP32",
    2: "TYPE_UINT8",
    3: "TYPE_INT8",
    4: "TYPE_UINT16",
    5: "TYPE_INT16",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    8: "TYPE_STRING",
    9: "TYPE_BOOL",
    10: "TYPE_FP16",
    11: "TYPE_FP64",
    12: "TYPE_UINT32",
    13: "TYPE_UINT64",
}


#: onnxruntime's tensor type names -> model-config data type
_ORT_TO_CONFIG = {
    "tensor(float)": "TYPE_FP32",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(int8)": "TYPE_INT8",
    "tensor(uint16)": "TYPE_UINT16",
    "tensor(int16)": "TYPE_INT16",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64",
    "tensor(string)": "TYPE_STRING",
    "tensor(bool)": "TYPE_BOOL",
    "tensor(float16)": "TYPE_FP16",
    "tensor(double)": "TYPE_FP64",
    "tensor(uint32)": "TYPE_UINT32",
    "tensor(uint64)": "TYPE_UINT64",
    "tensor(bfloat16)": "TYPE_BF16",
}


def check_config_tensors(config: mc.ModelConfig, session: Any) -> None:
    """Refuse a config whose inputs/outputs the model does not have or types differently.

    As Triton's onnxruntime backend at load time: a name the model lacks, or a data type
    that disagrees, fails the load instead of every request later.
    """
    for kind, declared, nodes in (
        ("input", config.input, session.get_inputs()),
        ("output", config.output, session.get_outputs()),
    ):
        types = {n.name: _ORT_TO_CONFIG.get(n.type, n.type) for n in nodes}
        for tensor in declared:
            if tensor.name not in types:
                msg = (
                    f"unable to load model '{config.name}', unexpected inference {kind} "
                    f"'{tensor.name}' in config.pbtxt: the ONNX model has no such {kind}; "
                    f"allowed {kind}s are: {', '.join(types)}"
                )
                raise ServeError(msg)
            wanted = mc.DataType.Name(tensor.data_type)
            if wanted != types[tensor.name]:
                msg = (
                    f"unable to load model '{config.name}', unexpected datatype {wanted} for "
                    f"inference {kind} '{tensor.name}', expecting {types[tensor.name]} (the "
                    "ONNX model's type); fix data_type in config.pbtxt"
                )
                raise ServeError(msg)


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        feature = "the onnxruntime backend"
        package = "onnxruntime"
        raise MissingDependencyError(package, "serve", feature) from None
    return onnxruntime


def _param(config: mc.ModelConfig, key: str, default: int) -> int:
    if key not in config.parameters:
        return default
    value = config.parameters[key].string_value
    try:
        return int(value)
    except ValueError:
        msg = f"model {config.name!r}: parameter {key!r} must be an integer, got {value!r}"
        raise ServeError(msg) from None


def _to_str(name: str, array: np.ndarray) -> np.ndarray:
    """BYTES elements -> str, as onnxruntime's string tensors want (UTF-8 only)."""
    out = np.empty(array.shape, dtype=np.object_)
    flat_in, flat_out = array.reshape(-1), out.reshape(-1)
    try:
        for i, v in enumerate(flat_in):
            flat_out[i] = v.decode() if isinstance(v, bytes) else str(v)
    except UnicodeDecodeError as exc:
        msg = f"input {name!r}: onnxruntime string tensors must be UTF-8: {exc}"
        raise ProtocolError(msg) from None
    return out


def _to_bytes(array: np.ndarray) -> np.ndarray:
    out = np.empty(array.shape, dtype=np.object_)
    flat_in, flat_out = array.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat_in):
        flat_out[i] = v.encode() if isinstance(v, str) else bytes(v)
    return out


def execution_providers(
    config: mc.ModelConfig, device: Device, available: Sequence[str]
) -> list[str | tuple[str, dict[str, Any]]]:
    """The onnxruntime execution providers of an instance on `device`, as Triton's
    onnxruntime backend picks them: the CPU provider on the CPU; on a GPU, TensorRT first
    where ``optimization { execution_accelerators { gpu_execution_accelerator [{ name:
    "tensorrt" }] } }`` asks for it, then CUDA, on that device, with the CPU provider last for
    the nodes the GPU providers do not take.
    """
    if device.kind == "cpu":
        return ["CPUExecutionProvider"]
    options = {"device_id": device.index}
    wanted: list[str | tuple[str, dict[str, Any]]] = []
    names = [a.name for a in config.optimization.execution_accelerators.gpu_execution_accelerator]
    if "tensorrt" in names:
        wanted.append(("TensorrtExecutionProvider", dict(options)))
    wanted.append(("CUDAExecutionProvider", dict(options)))
    missing = [w[0] for w in wanted if isinstance(w, tuple) and w[0] not in available]
    if missing:
        msg = (
            f"model {config.name!r}: an instance on {device} needs onnxruntime's "
            f"{' and '.join(missing)}, which this onnxruntime does not have (available: "
            f"{', '.join(available)}); install onnxruntime-gpu in place of onnxruntime, or "
            "use instance_group kind: KIND_CPU"
        )
        raise ServeError(msg)
    return [*wanted, "CPUExecutionProvider"]


class OnnxRuntimeInstance:
    """One onnxruntime session (on the CPU, or on a GPU through CUDA / TensorRT)."""

    def __init__(self, path: Path, config: mc.ModelConfig, device: Device = CPU) -> None:
        ort = _ort()
        providers = execution_providers(config, device, ort.get_available_providers())
        options = ort.SessionOptions()
        options.intra_op_num_threads = _param(config, "intra_op_thread_count", 1)
        options.inter_op_num_threads = _param(config, "inter_op_thread_count", 1)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        level = config.optimization.graph.level
        if level == -1:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=providers
            )
        except Exception as exc:
            msg = f"model {config.name!r}: onnxruntime cannot load {path}: {exc}"
            raise ServeError(msg) from exc
        check_config_tensors(config, self._session)
        self._inputs = {i.name for i in self._session.get_inputs()}
        # the underlying C++ session: skips the Python wrapper's per-call checks
        self._run = self._session._sess.run

    def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> dict[str, np.ndarray]:
        feed = {
            k: (_to_str(k, v) if v.dtype == np.object_ else v)
            for k, v in inputs.items()
            if k in self._inputs
        }
        results = self._run(list(outputs), feed, None)
        return {
            n: (_to_bytes(r) if r.dtype.kind in "OU" else r)
            for n, r in zip(outputs, results, strict=True)
        }

    def close(self) -> None:
        del self._run
        del self._session


class OnnxRuntimeBackend:
    """Serves ``model.onnx`` files with onnxruntime on the CPU or a GPU."""

    platforms: tuple[str, ...] = ("onnxruntime_onnx",)
    default_filename = "model.onnx"

    def load(self, path: Path, config: mc.ModelConfig) -> OnnxRuntimeInstance:
        return OnnxRuntimeInstance(path, config)

    def load_on(self, path: Path, config: mc.ModelConfig, device: Device) -> OnnxRuntimeInstance:
        return OnnxRuntimeInstance(path, config, device)

    def autocomplete(self, path: Path, config: mc.ModelConfig) -> None:
        """Fill inputs, outputs and max_batch_size from the ONNX graph (strict config off)."""
        try:
            import onnx
        except ImportError:
            feature = "ONNX config auto-complete"
            package = "onnx"
            raise MissingDependencyError(package, "serve", feature) from None
        model = onnx.load(str(path), load_external_data=False)
        inits = {t.name for t in model.graph.initializer}
        graph_inputs = [i for i in model.graph.input if i.name not in inits]
        tensors = graph_inputs + list(model.graph.output)
        shapes = [
            [(d.dim_value if d.HasField("dim_value") else -1) for d in t.type.tensor_type.shape.dim]
            for t in tensors
        ]
        batchable = bool(shapes) and all(s and s[0] == -1 for s in shapes)
        if not config.platform and not config.backend:
            config.platform = "onnxruntime_onnx"
        if batchable and config.max_batch_size == 0 and not config.input:
            config.max_batch_size = 4
            if not config.HasField("dynamic_batching"):
                config.dynamic_batching.SetInParent()
        skip = 1 if config.max_batch_size > 0 else 0
        for target, items in ((config.input, graph_inputs), (config.output, model.graph.output)):
            known = {t.name for t in target}
            for t in items:
                if t.name in known:
                    continue
                ttype = t.type.tensor_type
                dtype = _ONNX_TO_CONFIG.get(ttype.elem_type)
                if dtype is None:
                    msg = f"model {config.name!r}: tensor {t.name!r} has an unsupported ONNX type"
                    raise ServeError(msg)
                dims = [(d.dim_value if d.HasField("dim_value") else -1) for d in ttype.shape.dim]
                entry = target.add(name=t.name, dims=dims[skip:])
                entry.data_type = mc.DataType.Value(dtype)
