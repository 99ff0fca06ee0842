"""hepinfer's native gRPC front end: gRPC C++ in its own threads, Python once per batch.

`NativeGrpcFrontend` serves ``inference.GRPCInferenceService`` through gRPC's C++ library
(built from `grpc_frontend.cc` with the system g++ against Debian's ``libgrpc++-dev`` on first
use and cached under ``$HEPINFER_CACHE/grpc``). The transport runs without the GIL; the event
loop takes every message queued since its last wake-up with one call and answers each with
its serialized response. `InferenceServer` uses it when it can be built (``grpc_frontend=
"auto"``) and grpc.aio otherwise.
"""

from hepinfer.serve.native.build import build_library, native_available
from hepinfer.serve.native.frontend import NativeGrpcFrontend

__all__ = ["NativeGrpcFrontend", "build_library", "native_available"]
