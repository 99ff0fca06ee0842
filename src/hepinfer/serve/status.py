"""Error -> gRPC status code and HTTP status, following Triton 2.51.

Triton reports an unknown model as INVALID_ARGUMENT / 400 ("Request for unknown model: 'x'
is not found"), an unknown version as NOT_FOUND / 404, a model with no loaded version as
UNAVAILABLE / 503, and bad requests as INVALID_ARGUMENT / 400. Load/unload outside the
``explicit`` model-control mode is UNAVAILABLE / 503; a request to a restricted API without
its header is UNAVAILABLE over gRPC and 403 over HTTP.
"""

from __future__ import annotations

import grpc

from hepinfer.errors import (
    FeatureDisabledError,
    ModelControlError,
    ModelUnavailableError,
    ModelVersionNotFoundError,
    ProtocolError,
    QueueFullError,
    ResourceExhaustedError,
    RestrictedApiError,
    UnsafePathError,
)

_TABLE: tuple[tuple[type[Exception], grpc.StatusCode, int], ...] = (
    (ProtocolError, grpc.StatusCode.INVALID_ARGUMENT, 400),
    (UnsafePathError, grpc.StatusCode.INVALID_ARGUMENT, 400),
    (ModelVersionNotFoundError, grpc.StatusCode.NOT_FOUND, 404),
    (ModelUnavailableError, grpc.StatusCode.UNAVAILABLE, 503),
    (FeatureDisabledError, grpc.StatusCode.UNAVAILABLE, 503),
    (QueueFullError, grpc.StatusCode.UNAVAILABLE, 503),
    (ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (ModelControlError, grpc.StatusCode.UNAVAILABLE, 503),
    (RestrictedApiError, grpc.StatusCode.UNAVAILABLE, 403),
    (LookupError, grpc.StatusCode.INVALID_ARGUMENT, 400),
)


def classify_error(exc: Exception) -> tuple[grpc.StatusCode, int]:
    """The gRPC status code and HTTP status for an exception raised while serving."""
    for kind, code, http in _TABLE:
        if isinstance(exc, kind):
            return code, http
    return grpc.StatusCode.INTERNAL, 500
