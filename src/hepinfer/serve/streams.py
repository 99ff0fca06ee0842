"""Requests of a ModelStreamInfer stream, decoupled models included, for both gRPC front ends.

A request on a stream gets a `ResponseStream` as its completion callback. An ordinary model
calls it once (its response or error, final); a decoupled model (``model_transaction_policy
{ decoupled: true }``) calls `ResponseStream.emit` once per response its model sends, the
last one with ``final`` set, and possibly with no response at all (Triton's
``TRITONSERVER_RESPONSE_COMPLETE_FINAL`` flag alone). As in Triton, such a flag-only
completion is written to the stream only when the client asked for it with the
``triton_enable_empty_final_response`` request parameter; every response then carries the
``triton_final_response`` parameter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tritonclient.grpc import service_pb2 as pb

from hepinfer.errors import HepinferError
from hepinfer.protocol.grpc_codec import decode_request, encode_response
from hepinfer.protocol.messages import InferResponse

log = logging.getLogger(__name__)

#: one stream message (None: nothing to write) and whether the request is complete
Emit = Callable[[pb.ModelStreamInferResponse | None, bool], None]

EMPTY_FINAL_PARAMETER = "triton_enable_empty_final_response"
FINAL_PARAMETER = "triton_final_response"


class ResponseStream:
    """The completion callback of a streamed request: takes any number of responses."""

    __slots__ = ("emit",)

    def __init__(
        self, emit: Callable[[InferResponse | None, Exception | None, bool], None]
    ) -> None:
        self.emit = emit

    def __call__(self, response: InferResponse | None, exc: Exception | None) -> None:
        """The one answer of a request to an ordinary model (final)."""
        self.emit(response, exc, True)


def _error_message(request: pb.ModelInferRequest, exc: Exception) -> pb.ModelStreamInferResponse:
    if not isinstance(exc, HepinferError):
        log.error("internal error in a streamed request: %s", exc)
    empty = pb.ModelInferResponse(
        id=request.id, model_name=request.model_name, model_version=request.model_version
    )
    return pb.ModelStreamInferResponse(error_message=str(exc), infer_response=empty)


def stream_submit(submit: Callable[..., None], request: pb.ModelInferRequest, emit: Emit) -> None:
    """Run one streamed request through ``submit(decoded, done)``; `emit` gets its messages.

    Errors go in the messages (``error_message``), as Triton does on streams.
    """
    empty_final = (
        EMPTY_FINAL_PARAMETER in request.parameters
        and request.parameters[EMPTY_FINAL_PARAMETER].bool_param
    )

    def on_response(response: InferResponse | None, exc: Exception | None, final: bool) -> None:
        message: pb.ModelStreamInferResponse | None
        if exc is not None:
            message = _error_message(request, exc)
        elif response is None:
            if not empty_final:
                emit(None, final)
                return
            empty = pb.ModelInferResponse(
                id=request.id, model_name=request.model_name, model_version=request.model_version
            )
            message = pb.ModelStreamInferResponse(infer_response=empty)
        else:
            try:
                message = pb.ModelStreamInferResponse(infer_response=encode_response(response))
            except Exception as error:  # noqa: BLE001 - the client gets the error in the stream
                message = _error_message(request, error)
        if empty_final:
            message.infer_response.parameters[FINAL_PARAMETER].bool_param = final
        emit(message, final)

    try:
        decoded = decode_request(request)
    except Exception as exc:  # noqa: BLE001 - a bad request is answered in the stream
        on_response(None, exc, True)
        return
    submit(decoded, ResponseStream(on_response))
