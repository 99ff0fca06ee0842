"""Typed options of the SONIC-style client (mirroring CMSSW SonicTriton's parameters).

SonicTriton (CMSSW)            hepinfer.client
----------------------------   -----------------------------------------------
modelName / modelVersion       ClientOptions.model / .version
TritonService servers          ClientOptions.servers (chosen by health and queue time)
mode: Sync/Async/PseudoAsync   ClientOptions.mode (Mode.SYNC / ASYNC / PSEUDO_ASYNC)
timeout (+ timeoutUnit)        ClientOptions.timeout_s (per attempt)
allowedTries                   ClientOptions.allowed_tries (total attempts per request)
compression (none/deflate/gzip)ClientOptions.compression
outputs                        ClientOptions.outputs (empty: all of the model's outputs)
batch mode Rectangular/Ragged  BatchMode, chosen per call (acquire / acquire_ragged)
fallback server (LocalCPU)     ClientOptions.fallback (an in-process hepinfer server)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hepinfer.client.tls import TlsOptions
from hepinfer.errors import ClientError

#: the largest message the client sends or accepts (like the server's default)
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class Mode(enum.Enum):
    """How `acquire` waits for the server (SonicCore's SonicMode)."""

    #: acquire blocks until the answer is there (simplest; the job idles during inference)
    SYNC = "sync"
    #: acquire sends without blocking (gRPC's own I/O thread); produce waits for the answer
    ASYNC = "async"
    #: acquire hands a blocking call to a worker thread; produce waits for it
    PSEUDO_ASYNC = "pseudo_async"


class BatchMode(enum.Enum):
    """How the objects of one event become requests (SonicTriton's TritonBatchMode)."""

    #: one request per event: the objects are stacked on the batch dimension
    RECTANGULAR = "rectangular"
    #: one request per object, each with its own shape (objects of different sizes)
    RAGGED = "ragged"


COMPRESSIONS = ("none", "gzip", "deflate")


@dataclass(frozen=True)
class FallbackOptions:
    """A local in-process hepinfer server started when no remote server answers.

    Needs the ``serve`` extra. `repositories` are Triton-layout model repositories holding
    the client's model.
    """

    repositories: tuple[Path, ...]
    host: str = "127.0.0.1"
    start_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.repositories:
            msg = "FallbackOptions needs at least one model repository to serve locally"
            raise ClientError(msg)
        object.__setattr__(self, "repositories", tuple(Path(p) for p in self.repositories))


@dataclass(frozen=True)
class ClientOptions:
    """Everything a `SonicClient` needs; validated at construction."""

    model: str
    servers: Sequence[str] = ("127.0.0.1:8001",)
    version: str = ""
    mode: Mode = Mode.ASYNC
    timeout_s: float | None = 30.0
    allowed_tries: int = 3
    compression: str = "none"
    #: send requests over one ModelStreamInfer stream per server (less CPU per request)
    streaming: bool = False
    #: pass inputs through system shared memory to servers on this machine (loopback address
    #: or the fallback); inputs must then stay unchanged until `produce`
    use_shared_memory: bool = False
    outputs: Sequence[str] = ()
    #: fixed batch size for rectangular batching (pad with zeros); None: number of objects
    batch_size: int | None = None
    fallback: FallbackOptions | None = None
    #: seconds between health / queue-time checks of the servers (0: check only on errors)
    health_interval_s: float = 1.0
    #: how long a health check may take before the server counts as down
    health_timeout_s: float = 1.0
    #: worker threads for Mode.PSEUDO_ASYNC
    pseudo_async_workers: int = 4
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    channel_options: tuple[tuple[str, int | str], ...] = field(default_factory=tuple)
    #: TLS to the servers (server TLS, or mutual TLS with a client certificate); None: plain
    tls: TlsOptions | None = None

    def __post_init__(self) -> None:
        if not self.model:
            msg = "ClientOptions.model is empty; give the name of a model on the server"
            raise ClientError(msg)
        servers = (self.servers,) if isinstance(self.servers, str) else tuple(self.servers)
        object.__setattr__(self, "servers", servers)
        if not self.servers and self.fallback is None:
            msg = "ClientOptions needs at least one server 'host:port' or a fallback"
            raise ClientError(msg)
        for url in self.servers:
            host, sep, port = url.rpartition(":")
            if not sep or not host or not port.isdigit():
                msg = f"server address {url!r} is not 'host:port' (e.g. '127.0.0.1:8001')"
                raise ClientError(msg)
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if self.allowed_tries < 1:
            msg = f"allowed_tries {self.allowed_tries} must be at least 1 (1: no retry)"
            raise ClientError(msg)
        if self.timeout_s is not None and self.timeout_s <= 0:
            msg = f"timeout_s {self.timeout_s} must be positive (or None for no deadline)"
            raise ClientError(msg)
        if self.compression not in COMPRESSIONS:
            msg = f"compression {self.compression!r} is not one of {', '.join(COMPRESSIONS)}"
            raise ClientError(msg)
        if self.batch_size is not None and self.batch_size < 1:
            msg = f"batch_size {self.batch_size} must be positive (or None: number of objects)"
            raise ClientError(msg)
        if self.health_interval_s < 0 or self.health_timeout_s <= 0:
            msg = (
                f"health_interval_s {self.health_interval_s} must be >= 0 and "
                f"health_timeout_s {self.health_timeout_s} > 0"
            )
            raise ClientError(msg)
        if self.pseudo_async_workers < 1:
            msg = f"pseudo_async_workers {self.pseudo_async_workers} must be at least 1"
            raise ClientError(msg)
