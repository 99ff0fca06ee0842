"""One exception root for the whole package, with specific subclasses.

Messages name the offending value, say what is wrong with it, and how to fix it.
"""

from __future__ import annotations


class HepinferError(Exception):
    """Root of every error hepinfer raises on purpose."""


class FixedPointError(HepinferError, ValueError):
    """A fixed-point type or value is invalid (bad type string, width out of range, ...)."""


class ConfigError(HepinferError, ValueError):
    """A compile configuration is invalid."""


class FrontendError(HepinferError):
    """A model cannot be converted to hepinfer's IR (unsupported layer, bad file, ...)."""


class GraphError(HepinferError):
    """The IR graph is malformed (the verifier found a broken invariant)."""


class ProtocolError(HepinferError, ValueError):
    """An inference request or response does not follow the KServe v2 / Triton protocol."""


class ServeError(HepinferError):
    """The inference server cannot do what was asked (model missing, load failure, ...)."""


class ClientError(HepinferError):
    """The inference client failed to get an answer."""


class BenchError(HepinferError):
    """A benchmark cannot run as asked (bad options, model missing, server unreachable)."""


class MissingDependencyError(HepinferError, ImportError):
    """An optional dependency (an extra) is needed for this feature but not installed."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the optional package {package!r}, which is not installed; "
            f"install it with: pip install 'hepinfer[{extra}]'"
        )
        self.package = package
        self.extra = extra


class EstimateError(HepinferError, ValueError):
    """A resource/latency estimate cannot be made (bad layer description, unknown part, ...)."""


class ModelNotFoundError(ServeError, LookupError):
    """A request names a model or model version the repository does not have."""


class ModelUnavailableError(ServeError):
    """The model exists in the repository but is not loaded (or failed to load)."""


class ModelVersionNotFoundError(ModelNotFoundError):
    """The model exists but the requested version is not loaded."""


class UnsafePathError(ServeError, ValueError):
    """A model name or a file named by a model configuration would leave its model folder."""


class QueueFullError(ServeError):
    """A model's queue is at its `max_queue_size`, or a request waited past its timeout."""


class ResourceExhaustedError(ServeError):
    """Accepting the request would exceed the server's memory budget for queued requests."""


class FeatureDisabledError(ServeError):
    """The request needs a server feature that is switched off (e.g. shared memory)."""


class ModelControlError(ServeError):
    """Load or unload was asked of a server whose model-control mode does not allow it."""


class RestrictedApiError(ServeError):
    """A request to a restricted API group came without the header key and value it needs."""


class HlsError(HepinferError):
    """The HLS project cannot be written or its C simulation cannot be built or run."""


class NativeBuildError(ServeError):
    """hepinfer's native gRPC front end cannot be built here (no g++ or gRPC C++ headers)."""


class RtlError(HepinferError):
    """A model or setting the RTL (Verilog) generator, simulator or synthesis cannot handle."""
