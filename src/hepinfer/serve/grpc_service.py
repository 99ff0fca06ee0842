"""The gRPC front end: ``inference.GRPCInferenceService`` on grpc.aio.

Errors are answered with ``context.set_code`` / ``set_details`` (no exception unwinding in
the hot path); unexpected failures are logged and reported as INTERNAL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from hepinfer.errors import HepinferError
from hepinfer.protocol.grpc_codec import decode_request, encode_response
from hepinfer.serve.core import ServerCore
from hepinfer.serve.restrict import GRPC_METHOD_GROUPS, Restrictions
from hepinfer.serve.status import classify_error
from hepinfer.serve.streams import stream_submit

log = logging.getLogger(__name__)

M = TypeVar("M")


def _fail(context: grpc.aio.ServicerContext, exc: Exception, empty: Callable[[], M]) -> M:
    code, _ = classify_error(exc)
    if not isinstance(exc, HepinferError):
        log.exception("internal error while serving a gRPC request", exc_info=exc)
    context.set_code(code)
    context.set_details(str(exc))
    return empty()


#: requests of one ModelStreamInfer stream read and not yet answered, at most
STREAM_WINDOW = 64


class GrpcService(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """Triton's GRPCInferenceService backed by a ServerCore."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core

    async def ServerLive(self, request: Any, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.core.live)

    async def ServerReady(self, request: Any, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.core.ready)

    async def ModelReady(self, request: Any, context: Any) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(
            ready=self.core.repository.ready(request.name, request.version)
        )

    async def ServerMetadata(self, request: Any, context: Any) -> pb.ServerMetadataResponse:
        return self.core.server_metadata()

    async def ModelMetadata(self, request: Any, context: Any) -> pb.ModelMetadataResponse:
        try:
            return self.core.model_metadata(request.name, request.version)
        except Exception as exc:
            return _fail(context, exc, pb.ModelMetadataResponse)

    async def ModelConfig(self, request: Any, context: Any) -> pb.ModelConfigResponse:
        try:
            return self.core.model_config(request.name, request.version)
        except Exception as exc:
            return _fail(context, exc, pb.ModelConfigResponse)

    async def ModelStatistics(self, request: Any, context: Any) -> pb.ModelStatisticsResponse:
        try:
            return self.core.model_statistics(request.name, request.version)
        except Exception as exc:
            return _fail(context, exc, pb.ModelStatisticsResponse)

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: Any
    ) -> pb.ModelInferResponse:
        try:
            return encode_response(await self.core.infer(decode_request(request)))
        except Exception as exc:
            return _fail(context, exc, pb.ModelInferResponse)

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: Any
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Requests of a stream run concurrently; each answer (or error) is sent when ready,
        and each response of a decoupled model as its model sends it (`streams`).

        Flow control: at most `STREAM_WINDOW` requests of one stream are read and not yet
        complete; past that the stream is not read, so HTTP/2 flow control holds the client
        back instead of the server's memory growing.
        """
        answers: asyncio.Queue[pb.ModelStreamInferResponse | None] = asyncio.Queue()
        window = asyncio.Semaphore(STREAM_WINDOW)
        loop = asyncio.get_running_loop()

        async def one(request: pb.ModelInferRequest) -> None:
            complete: asyncio.Future[None] = loop.create_future()

            def emit(message: pb.ModelStreamInferResponse | None, final: bool) -> None:
                if message is not None:
                    answers.put_nowait(message)
                if final and not complete.done():
                    complete.set_result(None)

            stream_submit(self.core.submit, request, emit)
            try:
                await complete
            finally:
                window.release()

        async def read() -> None:
            tasks: set[asyncio.Task[None]] = set()
            incoming = aiter(request_iterator)
            try:
                while True:
                    await window.acquire()
                    try:
                        request = await anext(incoming)
                    except StopAsyncIteration:
                        break
                    task = asyncio.ensure_future(one(request))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if tasks:
                    await asyncio.gather(*tasks)
            finally:
                answers.put_nowait(None)

        reader = asyncio.ensure_future(read())
        try:
            while (answer := await answers.get()) is not None:
                yield answer
        finally:
            if not reader.done():
                reader.cancel()

    async def RepositoryIndex(self, request: Any, context: Any) -> pb.RepositoryIndexResponse:
        return self.core.repository_index(request.ready)

    async def RepositoryModelLoad(
        self, request: Any, context: Any
    ) -> pb.RepositoryModelLoadResponse:
        try:
            parameters = {
                key: getattr(p, p.WhichOneof("parameter_choice") or "string_param")
                for key, p in request.parameters.items()
            }
            await self.core.load_model(request.model_name, parameters)
        except Exception as exc:
            return _fail(context, exc, pb.RepositoryModelLoadResponse)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(
        self, request: Any, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        try:
            await self.core.unload_model(request.model_name)
        except Exception as exc:
            return _fail(context, exc, pb.RepositoryModelUnloadResponse)
        return pb.RepositoryModelUnloadResponse()

    async def SystemSharedMemoryStatus(
        self, request: Any, context: Any
    ) -> pb.SystemSharedMemoryStatusResponse:
        try:
            return self.core.shm_status(request.name)
        except Exception as exc:
            return _fail(context, exc, pb.SystemSharedMemoryStatusResponse)

    async def SystemSharedMemoryRegister(
        self, request: Any, context: Any
    ) -> pb.SystemSharedMemoryRegisterResponse:
        try:
            self.core.require_shm().register(
                request.name, request.key, request.offset, request.byte_size
            )
        except Exception as exc:
            return _fail(context, exc, pb.SystemSharedMemoryRegisterResponse)
        return pb.SystemSharedMemoryRegisterResponse()

    async def SystemSharedMemoryUnregister(
        self, request: Any, context: Any
    ) -> pb.SystemSharedMemoryUnregisterResponse:
        try:
            self.core.require_shm().unregister(request.name)
        except Exception as exc:
            return _fail(context, exc, pb.SystemSharedMemoryUnregisterResponse)
        return pb.SystemSharedMemoryUnregisterResponse()


class RestrictionInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuse calls to restricted API groups that lack the header (Triton's answer)."""

    def __init__(self, restrictions: Restrictions) -> None:
        self.restrictions = restrictions

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = str(details.method).rsplit("/", maxsplit=1)[-1]
        group = GRPC_METHOD_GROUPS.get(method)
        metadata = details.invocation_metadata or ()
        if group is None or self.restrictions.allowed(group, metadata):
            return await continuation(details)
        refusal = self.restrictions.refusal(group)

        async def refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, refusal)

        async def refuse_stream(
            _requests: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[None]:
            await context.abort(grpc.StatusCode.UNAVAILABLE, refusal)
            yield None  # pragma: no cover - abort raises

        if method == "ModelStreamInfer":
            return grpc.stream_stream_rpc_method_handler(refuse_stream)
        return grpc.unary_unary_rpc_method_handler(refuse)


def add_to_server(server: grpc.aio.Server, core: ServerCore) -> None:
    """Register the inference service on a grpc.aio server."""
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(GrpcService(core), server)
