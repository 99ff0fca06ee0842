"""The protocol-independent server core that the gRPC and HTTP front ends share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.message import Message
from tritonclient.grpc import service_pb2 as pb

from hepinfer._version import __version__
from hepinfer.errors import (
    FeatureDisabledError,
    HepinferError,
    ModelControlError,
    ProtocolError,
    ServeError,
)
from hepinfer.protocol.messages import InferRequest, InferResponse
from hepinfer.serve.backends.python.raw import peek_model
from hepinfer.serve.model import RawDone
from hepinfer.serve.repository import ModelRepository
from hepinfer.serve.shm import SharedMemoryManager

SERVER_NAME = "hepinfer"
#: Triton's --model-control-mode values
MODEL_CONTROL_MODES = ("none", "poll", "explicit")
#: Triton 2.51's answer to load/unload outside the explicit mode (UNAVAILABLE / 503)
MODEL_CONTROL_REFUSAL = "explicit model load / unload is not allowed if polling is enabled"
#: Triton extensions this server implements (reported by ServerMetadata)
EXTENSIONS = (
    "classification",
    "sequence",
    "model_repository",
    "model_repository(unload_dependents)",
    "schedule_policy",
    "model_configuration",
    "system_shared_memory",
    "binary_tensor_data",
    "parameters",
    "statistics",
)


class ServerCore:
    """Repository, shared memory and the answers every front end gives."""

    def __init__(
        self,
        repository: ModelRepository,
        enable_shm: bool = False,
        strict_readiness: bool = True,
        shm_prefix: str = "",
        model_control_mode: str = "none",
    ) -> None:
        if model_control_mode not in MODEL_CONTROL_MODES:
            msg = (
                f"model control mode {model_control_mode!r} is not one of "
                f"{', '.join(MODEL_CONTROL_MODES)}"
            )
            raise ServeError(msg)
        self.repository = repository
        self.shm = SharedMemoryManager(shm_prefix) if enable_shm else None
        self.live = True
        self.strict_readiness = strict_readiness
        self.model_control_mode = model_control_mode

    def _require_model_control(self) -> None:
        if self.model_control_mode != "explicit":
            raise ModelControlError(MODEL_CONTROL_REFUSAL)

    @property
    def ready(self) -> bool:
        """ServerReady, as Triton's ``--strict-readiness``: with it (the default) the server is
        ready only while no model is loading or failed to load; without it, while it is live.
        """
        if not self.live:
            return False
        return not self.strict_readiness or self.repository.all_available()

    async def infer(self, request: InferRequest) -> InferResponse:
        """Run one inference request."""
        model = self.repository.get(request.model_name, request.model_version)
        return await model.infer(request, self.shm)

    async def load_model(self, name: str, parameters: Mapping[str, object]) -> None:
        """RepositoryModelLoad: ``config`` (JSON) overrides config.pbtxt; ``file:<path>``
        parameters (bytes) are the model's files, as in Triton. Only in the ``explicit``
        model-control mode (else ModelControlError, Triton's UNAVAILABLE answer).
        """
        self._require_model_control()
        config: str | None = None
        files: dict[str, bytes] = {}
        for key, value in parameters.items():
            if key == "config":
                if not isinstance(value, str):
                    msg = (
                        f"load parameter 'config' must be a JSON string, got {type(value).__name__}"
                    )
                    raise ProtocolError(msg)
                config = value
            elif key.startswith("file:"):
                if not isinstance(value, bytes):
                    msg = f"load parameter {key!r} must be bytes, got {type(value).__name__}"
                    raise ProtocolError(msg)
                files[key.removeprefix("file:")] = value
            else:
                msg = (
                    f"unknown load parameter {key!r} for model '{name}'; hepinfer takes "
                    "'config' (the model configuration in JSON) and 'file:<path>' (model files)"
                )
                raise ProtocolError(msg)
        await self.repository.load(name, config, files or None)

    async def unload_model(self, name: str) -> None:
        """RepositoryModelUnload (only in the ``explicit`` model-control mode)."""
        self._require_model_control()
        await self.repository.unload(name)

    def submit(
        self, request: InferRequest, done: Callable[[InferResponse | None, Exception | None], None]
    ) -> None:
        """Run one inference request; `done` gets the response or the error (on the loop)."""
        try:
            model = self.repository.get(request.model_name, request.model_version)
        except (HepinferError, LookupError) as exc:  # unknown model or version
            done(None, exc)
            return
        model.submit(request, self.shm, done)

    def submit_raw(self, payload: bytes, done: RawDone) -> bool:
        """Hand a serialized ModelInferRequest to its model undecoded, if the model takes it
        that way (`ServedModel.submit_raw`); False: decode it and `submit` it (errors come
        from there).
        """
        route = peek_model(payload)
        if route is None:
            return False
        try:
            model = self.repository.get(*route)
        except (HepinferError, LookupError):
            return False
        return model.submit_raw(payload, done)

    def submit_http(
        self,
        model_name: str,
        version: str,
        body: bytes,
        header_length: int | None,
        done: Callable[[Any, Exception | None], None],
    ) -> bool:
        """Hand an HTTP infer request's body to its model undecoded, if the model takes it
        that way (the python backend's HTTP raw path: `done` gets the response body, an
        ``HttpBody``, or the error); False: decode it and `infer` it (errors come from there).
        """
        try:
            model = self.repository.get(model_name, version)
        except (HepinferError, LookupError):
            return False
        return model.submit_http(body, header_length, done)

    def require_shm(self) -> SharedMemoryManager:
        """The shared-memory manager, or FeatureDisabledError when shm is off."""
        if self.shm is None:
            msg = (
                "system shared memory is disabled on this server; start it with --enable-shm "
                "(ServerOptions(enable_shm=True)) to use it"
            )
            raise FeatureDisabledError(msg)
        return self.shm

    def server_metadata(self) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name=SERVER_NAME, version=__version__, extensions=list(EXTENSIONS)
        )

    def model_metadata(self, name: str, version: str) -> pb.ModelMetadataResponse:
        model = self.repository.get(name, version)
        config = model.config
        platform = config.platform or config.backend
        return pb.ModelMetadataResponse(
            name=model.name,
            versions=[m.version_str for m in self.repository.versions(name)],
            platform=platform,
            inputs=[
                _tensor_meta(s.name, s.datatype, s.dims, config.max_batch_size)
                for s in model.inputs.values()
            ],
            outputs=[
                _tensor_meta(s.name, s.datatype, s.dims, config.max_batch_size)
                for s in model.outputs.values()
            ],
        )

    def model_config(self, name: str, version: str) -> pb.ModelConfigResponse:
        return pb.ModelConfigResponse(config=self.repository.get(name, version).config)

    def model_statistics(self, name: str, version: str) -> pb.ModelStatisticsResponse:
        if name:
            if version:
                models = [self.repository.get(name, version)]
            else:
                models = self.repository.versions(name)
        else:
            if version:
                msg = "a model version needs a model name in the statistics request"
                raise ProtocolError(msg)
            models = self.repository.loaded()
        for m in models:
            m.sync_stats()
        return pb.ModelStatisticsResponse(model_stats=[m.stats.proto() for m in models])

    def repository_index(self, ready_only: bool) -> pb.RepositoryIndexResponse:
        return pb.RepositoryIndexResponse(
            models=[
                pb.RepositoryIndexResponse.ModelIndex(
                    name=e.name, version=e.version, state=e.state, reason=e.reason
                )
                for e in self.repository.index(ready_only)
            ]
        )

    def shm_status(self, name: str) -> pb.SystemSharedMemoryStatusResponse:
        regions = self.require_shm().status(name)
        return pb.SystemSharedMemoryStatusResponse(
            regions={
                r.name: pb.SystemSharedMemoryStatusResponse.RegionStatus(
                    name=r.name, key=r.key, offset=r.offset, byte_size=r.byte_size
                )
                for r in regions
            }
        )


def _tensor_meta(
    name: str, datatype: str, dims: tuple[int, ...], max_batch_size: int
) -> pb.ModelMetadataResponse.TensorMetadata:
    shape = [-1, *dims] if max_batch_size > 0 else list(dims)
    return pb.ModelMetadataResponse.TensorMetadata(name=name, datatype=datatype, shape=shape)


def message_to_json(message: Message) -> dict[str, Any]:
    """A protobuf message as Triton's JSON: snake_case names, integers as numbers.

    Scalars and lists are always printed (also at their default), sub-messages when set.
    """
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        repeated = _is_repeated(field)
        optional = field.message_type is not None or field.containing_oneof
        if not repeated and optional and not message.HasField(field.name):
            continue
        out[field.name] = _json_value(field, getattr(message, field.name))
    return out


def _is_repeated(field: Any) -> bool:
    if hasattr(type(field), "is_repeated"):  # protobuf >= 6 deprecates `label`
        return bool(field.is_repeated)
    return bool(field.label == field.LABEL_REPEATED)


def _json_value(field: Any, value: Any) -> Any:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return {k: _scalar(value_field, v) for k, v in value.items()}
    if _is_repeated(field):
        return [_scalar(field, v) for v in value]
    return _scalar(field, value)


def _scalar(field: Any, value: Any) -> Any:
    if field.message_type is not None:
        return message_to_json(value)
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
