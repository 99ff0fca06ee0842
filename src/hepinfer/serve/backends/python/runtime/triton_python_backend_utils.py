"""hepinfer's ``triton_python_backend_utils``: the API a Triton python-backend ``model.py`` uses.

A ``model.py`` written for Triton does ``import triton_python_backend_utils as pb_utils``; the
instance process hepinfer starts puts this folder on ``sys.path``, so the same file runs
unchanged. What Triton's C++ stub injects (`Tensor`, `InferenceRequest`,
`InferenceResponse`, `TritonError`, `Logger`, response senders) is plain Python here; the
stub (`_pb_stub`) wires BLS calls and decoupled responses to the server through `_HOOKS`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_log = logging.getLogger("triton_python_backend_utils")

TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1
TRITONSERVER_REQUEST_FLAG_SEQUENCE_START = 1
TRITONSERVER_REQUEST_FLAG_SEQUENCE_END = 2
TRITONSERVER_REQUEST_RELEASE_RESCHEDULE = 2
TRITONSERVER_MEMORY_CPU = 0

TRITON_STRING_TO_NUMPY: dict[str, Any] = {
    "TYPE_BOOL": np.bool_,
    "TYPE_UINT8": np.uint8,
    "TYPE_UINT16": np.uint16,
    "TYPE_UINT32": np.uint32,
    "TYPE_UINT64": np.uint64,
    "TYPE_INT8": np.int8,
    "TYPE_INT16": np.int16,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16,
    "TYPE_FP32": np.float32,
    "TYPE_FP64": np.float64,
    "TYPE_STRING": np.object_,
}
_TYPE_CODES = [
    "TYPE_INVALID",
    "TYPE_BOOL",
    "TYPE_UINT8",
    "TYPE_UINT16",
    "TYPE_UINT32",
    "TYPE_UINT64",
    "TYPE_INT8",
    "TYPE_INT16",
    "TYPE_INT32",
    "TYPE_INT64",
    "TYPE_FP16",
    "TYPE_FP32",
    "TYPE_FP64",
    "TYPE_STRING",
]

#: set by the instance process: "bls" runs an InferenceRequest on the server, "send" sends
#: a decoupled response (request id, response, flags)
_HOOKS: dict[str, Callable[..., Any]] = {}


class TritonError(Exception):
    """An error of one request (``InferenceResponse(error=...)``) or of a BLS call."""

    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6
    CANCELLED = 7

    def __init__(self, message: str, code: int = INTERNAL) -> None:
        super().__init__(message)
        self._message = message
        self._code = code

    def message(self) -> str:
        """The error text."""
        return self._message

    def code(self) -> int:
        """The error code (`TritonError.INTERNAL` unless given)."""
        return self._code


class TritonModelException(Exception):
    """What a failing BLS call raises (Triton's ``pb_utils.TritonModelException``)."""

    def message(self) -> str:
        """The error text."""
        return str(self)


class _DLPackCapsule:
    """Wraps a raw DLPack capsule so ``numpy.from_dlpack`` accepts it."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __dlpack__(self, stream: Any = None) -> Any:
        return self._capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # kDLCPU


class Tensor:
    """A named tensor held as a numpy array (CPU memory)."""

    __slots__ = ("_array", "_name")

    def __init__(self, name: str, array: Any) -> None:
        if not isinstance(array, np.ndarray):
            msg = f"Tensor {name!r}: expected a numpy array, got {type(array).__name__}"
            raise TritonModelException(msg)
        if array.dtype.kind in "SU":
            array = array.astype(np.object_)
        self._name = name
        self._array: np.ndarray = array

    def name(self) -> str:
        """The tensor's name."""
        return self._name

    def as_numpy(self) -> np.ndarray:
        """The data as a numpy array (no copy)."""
        return self._array

    def shape(self) -> list[int]:
        """The tensor's shape."""
        return list(self._array.shape)

    def triton_dtype(self) -> int:
        """The model-config data type code (e.g. 11 for TYPE_FP32)."""
        return _TYPE_CODES.index(numpy_to_triton_type_string(self._array.dtype))

    def is_cpu(self) -> bool:
        """Always True: hepinfer's python backend keeps tensors in CPU memory."""
        return True

    def to_dlpack(self) -> Any:
        """A DLPack capsule sharing this tensor's memory (no copy)."""
        return self._array.__dlpack__()

    @staticmethod
    def from_dlpack(name: str, capsule: Any) -> Tensor:
        """A tensor sharing the memory of a DLPack capsule or object (e.g. a torch tensor)."""
        source = capsule if hasattr(capsule, "__dlpack__") else _DLPackCapsule(capsule)
        return Tensor(name, np.from_dlpack(source))

    def __repr__(self) -> str:
        return f"Tensor({self._name!r}, shape={list(self._array.shape)}, {self._array.dtype})"


class InferenceResponse:
    """The answer to one request: output tensors, or an error."""

    def __init__(
        self,
        output_tensors: Sequence[Tensor] | None = None,
        error: TritonError | None = None,
        parameters: Any = None,
    ) -> None:
        self._outputs = list(output_tensors or [])
        self._error = error
        self._parameters = parameters

    def output_tensors(self) -> list[Tensor]:
        """The output tensors."""
        return self._outputs

    def has_error(self) -> bool:
        """Whether the response carries an error."""
        return self._error is not None

    def error(self) -> TritonError | None:
        """The error, or None."""
        return self._error

    def parameters(self) -> str:
        """The response parameters as JSON text."""
        return json.dumps(self._parameters or {})


class InferenceResponseSender:
    """Sends the responses of a request of a decoupled model (any number, then FINAL)."""

    def __init__(self, request_id: int) -> None:
        self._id = request_id
        self._closed = False

    def send(self, response: InferenceResponse | None = None, flags: int = 0) -> None:
        """Send one response; ``flags=TRITONSERVER_RESPONSE_COMPLETE_FINAL`` ends the request."""
        if self._closed:
            msg = "Unable to send response. Response sender has been closed."
            raise TritonModelException(msg)
        if flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL:
            self._closed = True
        _HOOKS["send"](self._id, response, flags)

    def is_cancelled(self) -> bool:
        """Whether the client cancelled the request (never, here)."""
        return False


class InferenceRequest:
    """A request: given to ``execute``, or built by a model for a BLS call with `exec`."""

    def __init__(
        self,
        model_name: str,
        inputs: Sequence[Tensor] | None = None,
        requested_output_names: Sequence[str] | None = None,
        model_version: int = -1,
        request_id: str = "",
        correlation_id: int = 0,
        flags: int = 0,
        timeout: int = 0,
        parameters: Any = None,
        **_: Any,
    ) -> None:
        self._model_name = model_name
        self._inputs = list(inputs or [])
        self._outputs = list(requested_output_names or [])
        self._version = model_version
        self._id = request_id
        self._correlation_id = correlation_id
        self._flags = flags
        self._timeout = timeout
        if isinstance(parameters, str):
            parameters = json.loads(parameters) if parameters not in ("", "{}") else {}
        self._parameters: dict[str, Any] = dict(parameters or {})
        self._sender: InferenceResponseSender | None = None
        self._token = -1  #: set by the instance process: names the request to the server

    def inputs(self) -> list[Tensor]:
        """The input tensors."""
        return self._inputs

    def requested_output_names(self) -> set[str]:
        """The outputs the client asked for (a set, as in Triton 2.51)."""
        return set(self._outputs)

    def request_id(self) -> str:
        """The client's request id."""
        return self._id

    def correlation_id(self) -> int:
        """The sequence correlation id (0 when none)."""
        return self._correlation_id

    def flags(self) -> int:
        """The request flags."""
        return self._flags

    def model_name(self) -> str:
        """The model the request is for."""
        return self._model_name

    def model_version(self) -> int:
        """The model version (-1: latest)."""
        return self._version

    def timeout(self) -> int:
        """The request timeout in microseconds (0: none)."""
        return self._timeout

    def parameters(self) -> str:
        """The request parameters as JSON text."""
        return json.dumps(self._parameters)

    def is_cancelled(self) -> bool:
        """Whether the client cancelled the request (never, here)."""
        return False

    def get_response_sender(self) -> InferenceResponseSender:
        """The sender of this request's responses (decoupled models)."""
        if self._sender is None:
            key = _HOOKS.get("sender_key")
            self._sender = InferenceResponseSender(key(self) if key else id(self))
        return self._sender

    def exec(self, decoupled: bool = False) -> Any:
        """Run this request on a model of the same server (BLS); returns its response."""
        return _HOOKS["bls"](self, decoupled)

    async def async_exec(self, decoupled: bool = False) -> Any:
        """`exec` for ``async def execute``."""
        return self.exec(decoupled)


class Logger:
    """Triton's model logger (goes to the instance process's stderr)."""

    @staticmethod
    def log(message: str, level: int = 0) -> None:
        """Log at `level` (0 INFO, 1 WARNING, 2 ERROR, 3 VERBOSE)."""
        levels = (logging.INFO, logging.WARNING, logging.ERROR, logging.DEBUG)
        _log.log(levels[level] if 0 <= level < len(levels) else logging.INFO, "%s", message)

    @staticmethod
    def log_info(message: str) -> None:
        """Log at INFO."""
        _log.info("%s", message)

    @staticmethod
    def log_warn(message: str) -> None:
        """Log at WARNING."""
        _log.warning("%s", message)

    @staticmethod
    def log_error(message: str) -> None:
        """Log at ERROR."""
        _log.error("%s", message)

    @staticmethod
    def log_verbose(message: str) -> None:
        """Log at DEBUG."""
        _log.debug("%s", message)


def get_input_tensor_by_name(inference_request: InferenceRequest, name: str) -> Tensor | None:
    """The input tensor called `name` of a request, or None."""
    for t in inference_request.inputs():
        if t.name() == name:
            return t
    return None


def get_output_tensor_by_name(inference_response: InferenceResponse, name: str) -> Tensor | None:
    """The output tensor called `name` of a response, or None."""
    for t in inference_response.output_tensors():
        if t.name() == name:
            return t
    return None


def _config_entry(model_config: Any, kind: str, name: str) -> dict[str, Any] | None:
    if isinstance(model_config, ModelConfig):
        model_config = model_config.as_dict()
    if isinstance(model_config, str):
        model_config = json.loads(model_config)
    for entry in model_config.get(kind, []):
        if entry.get("name") == name:
            return dict(entry)
    return None


def get_input_config_by_name(model_config: Any, name: str) -> dict[str, Any] | None:
    """The configuration (dict) of the input called `name`, or None."""
    return _config_entry(model_config, "input", name)


def get_output_config_by_name(model_config: Any, name: str) -> dict[str, Any] | None:
    """The configuration (dict) of the output called `name`, or None."""
    return _config_entry(model_config, "output", name)


def using_decoupled_model_transaction_policy(model_config: Any) -> bool:
    """Whether the configuration makes the model decoupled."""
    if isinstance(model_config, ModelConfig):
        model_config = model_config.as_dict()
    return bool(model_config.get("model_transaction_policy", {}).get("decoupled", False))


def triton_string_to_numpy(triton_type_string: str) -> Any:
    """``"TYPE_FP32"`` -> ``numpy.float32``."""
    return TRITON_STRING_TO_NUMPY[triton_type_string]


def numpy_to_triton_type_string(dtype: Any) -> str:
    """A numpy dtype -> its model-config type name (str/bytes/object -> TYPE_STRING)."""
    dt = np.dtype(dtype)
    if dt.kind in "OSU":
        return "TYPE_STRING"
    for name, np_type in TRITON_STRING_TO_NUMPY.items():
        if np.dtype(np_type) == dt:
            return name
    msg = f"numpy dtype {dt} has no Triton type"
    raise TritonModelException(msg)


def triton_to_numpy_type(data_type: int) -> Any:
    """A model-config type code (e.g. 11) -> numpy type."""
    return TRITON_STRING_TO_NUMPY.get(_TYPE_CODES[data_type])


def numpy_to_triton_type(data_type: Any) -> int | None:
    """A numpy type -> model-config type code, or None."""
    try:
        return _TYPE_CODES.index(numpy_to_triton_type_string(data_type))
    except TritonModelException:
        return None


def serialize_byte_tensor(input_tensor: np.ndarray) -> np.ndarray | None:
    """Triton's BYTES wire form: each element as 4-byte little-endian length + bytes."""
    if input_tensor.size == 0:
        return None
    parts = []
    for item in input_tensor.reshape(-1).tolist():
        data = item.encode() if isinstance(item, str) else bytes(item)
        parts.append(len(data).to_bytes(4, "little") + data)
    return np.frombuffer(b"".join(parts), dtype=np.uint8)


def deserialize_bytes_tensor(encoded_tensor: bytes) -> np.ndarray:
    """The inverse of `serialize_byte_tensor` (a flat object array of bytes)."""
    items = []
    pos = 0
    while pos < len(encoded_tensor):
        n = int.from_bytes(encoded_tensor[pos : pos + 4], "little")
        items.append(bytes(encoded_tensor[pos + 4 : pos + 4 + n]))
        pos += 4 + n
    return np.array(items, dtype=np.object_)


class ModelConfig:
    """The configuration offered to ``auto_complete_config`` (a dict under the hood)."""

    def __init__(self, model_config: str | dict[str, Any]) -> None:
        self._model_config: dict[str, Any] = (
            json.loads(model_config) if isinstance(model_config, str) else model_config
        )

    def as_dict(self) -> dict[str, Any]:
        """The configuration as a dict (Triton's JSON form)."""
        return self._model_config

    def _name(self) -> str:
        return str(self._model_config.get("name", ""))

    def set_max_batch_size(self, max_batch_size: int) -> None:
        """Set max_batch_size (cannot lower a non-zero value the config gives)."""
        current = int(self._model_config.get("max_batch_size", 0))
        if current > max_batch_size:
            msg = (
                f"configuration specified max_batch_size {current}, but in auto-complete-config "
                f"function for model '{self._name()}' specified max_batch_size {max_batch_size}"
            )
            raise ValueError(msg)
        self._model_config["max_batch_size"] = max_batch_size

    def set_dynamic_batching(self) -> None:
        """Use the dynamic batcher (unless another scheduler is configured)."""
        for other in ("sequence_batching", "ensemble_scheduling"):
            if other in self._model_config:
                msg = (
                    f"Configuration specified scheduling_choice as '{other}', but "
                    f"auto-complete-config function for model '{self._name()}' tries to set "
                    "scheduling_choice as 'dynamic_batching'"
                )
                raise ValueError(msg)
        self._model_config.setdefault("dynamic_batching", {})

    def _add(self, kind: str, tensor: Any) -> None:
        if not isinstance(tensor, dict):
            msg = (
                f"{kind} in auto-complete-config function for model '{self._name()}' must be a dict"
            )
            raise TypeError(msg)
        for key in ("name", "data_type", "dims"):
            if key not in tensor:
                msg = (
                    f"{kind} {tensor.get('name', '')!r} in auto-complete-config function for "
                    f"model '{self._name()}' is missing the '{key}' property"
                )
                raise ValueError(msg)
        entries = self._model_config.setdefault(kind, [])
        for entry in entries:
            if entry.get("name") != tensor["name"]:
                continue
            for key in ("data_type", "dims"):
                if key in entry and [str(d) for d in np.atleast_1d(entry[key])] != [
                    str(d) for d in np.atleast_1d(tensor[key])
                ]:
                    msg = (
                        f"unable to add {kind} '{tensor['name']}' for model '{self._name()}': "
                        f"the configuration gives {key} {entry[key]}, auto-complete "
                        f"{tensor[key]}"
                    )
                    raise ValueError(msg)
            entry.update({k: v for k, v in tensor.items() if k not in entry})
            return
        entries.append(dict(tensor))

    def add_input(self, input: dict[str, Any]) -> None:
        """Add an input (``{"name", "data_type", "dims"}``) unless the config has it."""
        self._add("input", input)

    def add_output(self, output: dict[str, Any]) -> None:
        """Add an output (``{"name", "data_type", "dims"}``) unless the config has it."""
        self._add("output", output)

    def set_model_transaction_policy(self, transaction_policy_dict: dict[str, Any]) -> None:
        """Set model_transaction_policy (e.g. ``{"decoupled": True}``)."""
        self._model_config["model_transaction_policy"] = dict(transaction_policy_dict)
