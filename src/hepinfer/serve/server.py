"""Start and stop a server: on the running event loop, in a background thread, or for the CLI.

    from hepinfer.serve import InferenceServer, ServerOptions

    with InferenceServer(ServerOptions(["models/"], grpc_port=0, http_port=0)) as server:
        print(server.grpc_url, server.http_url)   # ports picked by the OS

One event loop serves gRPC, HTTP and metrics; models run in their instances' threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import grpc
from aiohttp import web

from hepinfer.errors import NativeBuildError, ServeError
from hepinfer.serve.budget import DEFAULT_BUDGET_BYTES, MemoryBudget
from hepinfer.serve.core import MODEL_CONTROL_MODES, ServerCore
from hepinfer.serve.grpc_service import RestrictionInterceptor, add_to_server
from hepinfer.serve.http_app import build_app
from hepinfer.serve.http_fast import FastTCPSite
from hepinfer.serve.metrics import build_metrics_app
from hepinfer.serve.native import NativeGrpcFrontend
from hepinfer.serve.repository import ModelRepository
from hepinfer.serve.restrict import Restrictions, parse_restrictions
from hepinfer.serve.tls import ServerTls

log = logging.getLogger(__name__)


class _GrpcFrontend(Protocol):
    """What the server needs of a gRPC front end (grpc.aio.Server or NativeGrpcFrontend)."""

    async def stop(self, grace: float) -> None: ...


DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
GRPC_FRONTENDS = ("auto", "native", "aio")


@dataclass(frozen=True)
class ServerOptions:
    """How to run a server. Ports: 0 picks a free port, None disables that front end."""

    repositories: Sequence[Path | str]
    host: str = "127.0.0.1"
    grpc_port: int | None = 8001
    http_port: int | None = 8000
    metrics_port: int | None = 8002
    enable_shm: bool = False
    #: with enable_shm: only shared-memory objects whose name starts with this are registered
    shm_prefix: str = ""
    #: memory budget for the inputs of accepted requests, all models together (0: no limit);
    #: past it requests are refused with RESOURCE_EXHAUSTED / 429
    max_queued_bytes: int = DEFAULT_BUDGET_BYTES
    #: TLS (or mutual TLS) for gRPC, Triton's --grpc-use-ssl*; None: plain gRPC
    grpc_tls: ServerTls | None = None
    #: TLS for HTTP (HTTPS); None: plain HTTP
    http_tls: ServerTls | None = None
    #: seconds an HTTP connection may stay idle or take to send a request's headers
    http_header_timeout_s: float = 30.0
    #: seconds an HTTP request body may take to arrive once its headers are in
    http_body_timeout_s: float = 60.0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    grpc_options: tuple[tuple[str, int | str], ...] = field(default_factory=tuple)
    #: "native" (gRPC C++, see hepinfer.serve.native), "aio" (grpc.aio), or "auto": native
    #: when it can be built here, else aio with a warning
    grpc_frontend: str = "auto"
    #: completion-queue threads of the native front end
    grpc_threads: int = 1
    #: Triton's --strict-readiness: ServerReady is false while a model failed to load
    strict_readiness: bool = True
    #: Triton's --model-control-mode: "none" (load everything at start, load/unload refused),
    #: "poll" (also re-scan every `repository_poll_secs` and (re)load/unload what changed) or
    #: "explicit" (load only `load_models` at start; clients load and unload)
    model_control_mode: str = "none"
    #: Triton's --repository-poll-secs (poll mode)
    repository_poll_secs: float = 15.0
    #: Triton's --load-model (explicit mode): models loaded at start, "*" for all
    load_models: tuple[str, ...] = ()
    #: Triton's --exit-on-error: start-up fails when a model fails to load (else the server
    #: serves the others, and says which failed and why)
    exit_on_error: bool = True
    #: Triton's --grpc-restricted-protocol: "<group>[,<group>...]:<key>=<value>" each
    grpc_restricted: tuple[str, ...] = ()
    #: Triton's --http-restricted-api: same syntax
    http_restricted: tuple[str, ...] = ()
    #: Triton's --strict-model-config (--disable-auto-complete-config): True completes no
    #: model configuration from its model file; a folder without config.pbtxt fails to load
    strict_model_config: bool = False

    def __post_init__(self) -> None:
        if not self.repositories:
            msg = "ServerOptions needs at least one model repository folder"
            raise ServeError(msg)
        for name in ("grpc_port", "http_port", "metrics_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                msg = f"{name} {port} is not a TCP port (0..65535; 0 picks a free one)"
                raise ServeError(msg)
        if self.grpc_frontend not in GRPC_FRONTENDS:
            msg = f"grpc_frontend {self.grpc_frontend!r} is not one of {', '.join(GRPC_FRONTENDS)}"
            raise ServeError(msg)
        if self.grpc_threads < 1:
            msg = f"grpc_threads {self.grpc_threads} must be at least 1"
            raise ServeError(msg)
        if self.http_header_timeout_s <= 0 or self.http_body_timeout_s <= 0:
            msg = (
                f"HTTP timeouts must be positive, got header {self.http_header_timeout_s} s "
                f"and body {self.http_body_timeout_s} s"
            )
            raise ServeError(msg)
        if self.max_message_bytes <= 0:
            msg = f"max_message_bytes {self.max_message_bytes} must be positive"
            raise ServeError(msg)
        if self.model_control_mode not in MODEL_CONTROL_MODES:
            msg = (
                f"model_control_mode {self.model_control_mode!r} is not one of "
                f"{', '.join(MODEL_CONTROL_MODES)}"
            )
            raise ServeError(msg)
        if self.load_models and self.model_control_mode != "explicit":
            msg = (  # Triton 2.51's words, then ours
                "Use of '--load-model' requires setting '--model-control-mode=explicit' as "
                f"well (load_models {list(self.load_models)} with model_control_mode "
                f"{self.model_control_mode!r}, which loads every model of the repository)"
            )
            raise ServeError(msg)
        if not self.repository_poll_secs > 0:
            msg = f"repository_poll_secs {self.repository_poll_secs} must be positive"
            raise ServeError(msg)
        self.restrictions()  # raises for a bad specification

    def restrictions(self) -> tuple[Restrictions, Restrictions]:
        """The gRPC and HTTP restrictions, parsed."""
        return (
            parse_restrictions(self.grpc_restricted, "grpc"),
            parse_restrictions(self.http_restricted, "http"),
        )


class InferenceServer:
    """A Triton-compatible server; use `start`/`stop` on a loop, or `with` for a thread."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.repository = ModelRepository(
            [Path(p) for p in options.repositories],
            MemoryBudget(options.max_queued_bytes),
            options.strict_model_config,
        )
        self.core = ServerCore(
            self.repository,
            options.enable_shm,
            options.strict_readiness,
            options.shm_prefix,
            options.model_control_mode,
        )
        self.grpc_restrictions, self.http_restrictions = options.restrictions()
        self._poller: asyncio.Task[None] | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.metrics_port: int | None = None
        self._grpc: _GrpcFrontend | None = None
        #: the gRPC front end in use once started: "native" or "aio"
        self.grpc_frontend: str | None = None
        self._runners: list[web.AppRunner] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC front end (what tritonclient.grpc takes)."""
        return f"{self.options.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP front end (what tritonclient.http takes)."""
        return f"{self.options.host}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        """URL of the Prometheus metrics."""
        return f"http://{self.options.host}:{self.metrics_port}/metrics"

    async def start(self) -> None:
        """Load the models and open the ports, on the running loop."""
        opts = self.options
        await self._load_models()
        if opts.grpc_port is not None:
            self._grpc = await self._start_grpc()
        if opts.http_port is not None:
            app = build_app(
                self.core, opts.max_message_bytes, self.http_restrictions, opts.http_body_timeout_s
            )
            tls = opts.http_tls.ssl_context() if opts.http_tls is not None else None
            # the lean infer path, unless inference needs a header (--http-restricted-api)
            lean = self.http_restrictions.header("inference") is None
            self.http_port = await self._site(app, opts.http_port, "HTTP", tls, lean)
        if opts.metrics_port is not None:
            self.metrics_port = await self._site(
                build_metrics_app(self.repository), opts.metrics_port, "metrics"
            )
        log.info(
            "hepinfer serving on %s: gRPC %s, HTTP %s, metrics %s (gRPC front end: %s)",
            opts.host,
            self.grpc_port,
            self.http_port,
            self.metrics_port,
            self.grpc_frontend,
        )

    async def _load_models(self) -> None:
        """Load what the model-control mode says, log Triton's table, apply exit-on-error."""
        opts = self.options
        if opts.model_control_mode == "explicit":
            await self.repository.load_all(opts.load_models)
        else:
            await self.repository.load_all()
        log.info(
            "model status (%s mode):\n%s", opts.model_control_mode, self.repository.status_table()
        )
        failed = self.repository.failures()
        if failed and opts.exit_on_error:
            lines = "; ".join(f"{name}: {reason}" for name, reason in failed.items())
            msg = (
                f"failed to load all models ({lines}); fix them, or start with "
                "--exit-on-error=false (ServerOptions(exit_on_error=False)) to serve the others"
            )
            raise ServeError(msg)
        for name, reason in failed.items():
            log.warning("serving without model %s, which failed to load: %s", name, reason)
        if opts.model_control_mode == "poll":
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        """Poll mode: re-scan the repositories every `repository_poll_secs`."""
        while True:
            await asyncio.sleep(self.options.repository_poll_secs)
            try:
                await self.repository.poll()
            except Exception:  # a bad scan must not end polling: logged, tried again
                log.exception("polling the model repository failed")

    async def _start_grpc(self) -> _GrpcFrontend:
        opts = self.options
        assert opts.grpc_port is not None
        size = opts.max_message_bytes
        options: dict[str, int | str] = dict(
            [
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
                ("grpc.so_reuseport", 0),  # a port in use is an error, not shared
                *opts.grpc_options,
            ]
        )
        if opts.grpc_frontend != "aio":
            try:
                native = NativeGrpcFrontend(self.core, opts.grpc_threads, self.grpc_restrictions)
            except NativeBuildError as exc:
                if opts.grpc_frontend == "native":
                    raise
                log.warning("serving gRPC with grpc.aio (slower): %s", exc)
            else:
                self.grpc_port = await native.start(
                    opts.host, opts.grpc_port, size, options, opts.grpc_tls
                )
                self.grpc_frontend = "native"
                return native
        interceptors = [RestrictionInterceptor(self.grpc_restrictions)]
        server = grpc.aio.server(
            options=list(options.items()),
            interceptors=interceptors if self.grpc_restrictions else None,
        )
        add_to_server(server, self.core)
        address = f"{opts.host}:{opts.grpc_port}"
        if opts.grpc_tls is not None:
            self.grpc_port = server.add_secure_port(address, opts.grpc_tls.grpc_credentials())
        else:
            self.grpc_port = server.add_insecure_port(address)
        if self.grpc_port == 0:
            msg = f"cannot listen for gRPC on {opts.host}:{opts.grpc_port} (port in use?)"
            raise ServeError(msg)
        await server.start()
        self.grpc_frontend = "aio"
        aio: _GrpcFrontend = server
        return aio

    async def _site(
        self,
        app: web.Application,
        port: int,
        what: str,
        tls: ssl.SSLContext | None = None,
        lean: bool = False,
    ) -> int:
        runner = web.AppRunner(
            app,
            access_log=None,
            keepalive_timeout=self.options.http_header_timeout_s,
            lingering_time=1.0,  # after an early answer (408, 413), drain the body briefly
        )
        await runner.setup()
        self._runners.append(runner)
        site: web.TCPSite
        if lean:  # python-backend infer requests served before aiohttp parses them
            site = FastTCPSite(
                runner,
                self.options.host,
                port,
                self.core,
                self.options.max_message_bytes,
                self.options.http_header_timeout_s,
                ssl_context=tls,
            )
        else:
            site = web.TCPSite(runner, self.options.host, port, reuse_port=False, ssl_context=tls)
        try:
            await site.start()
        except OSError as exc:
            msg = f"cannot listen for {what} on {self.options.host}:{port}: {exc}"
            raise ServeError(msg) from exc
        address = runner.addresses[-1]
        return int(address[1])

    async def stop(self, grace: float = 1.0) -> None:
        """Close the ports and unload the models."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        await self.repository.close()
        if self.core.shm is not None:
            self.core.shm.close()

    # --------------------------------------------------------------- background thread
    def __enter__(self) -> Self:
        self.start_in_thread()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_thread()

    def start_in_thread(self, timeout: float = 120.0) -> None:
        """Run the server on its own event loop in a daemon thread; returns when it listens."""
        started = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                started.set()
                await self.stop(0)
                return
            started.set()
            await self._stopped.wait()
            await self.stop()

        self._thread = threading.Thread(
            target=lambda: asyncio.run(main()), name="hepinfer-server", daemon=True
        )
        self._thread.start()
        if not started.wait(timeout):
            msg = f"the server did not start within {timeout} s"
            raise ServeError(msg)
        if failure:
            self._thread.join()
            raise failure[0]

    def stop_thread(self, timeout: float = 30.0) -> None:
        """Stop a server started with `start_in_thread` and wait for its thread."""
        if self._thread is None or self._loop is None or self._stopped is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout)
        self._thread = None


def install_uvloop() -> bool:
    """Use uvloop's event loop if it is installed (a faster loop for the front ends)."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


async def serve_forever(options: ServerOptions) -> None:
    """Run a server until SIGINT/SIGTERM (the CLI's main loop)."""
    server = InferenceServer(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    if os.environ.get("HEPINFER_GC_TUNE", "1") != "0":
        quiet_garbage_collector()
    try:
        await stop.wait()
    finally:
        await server.stop()


def quiet_garbage_collector() -> None:
    """Keep the cycle collector out of the request path of a long-running server.

    Requests make no reference cycles (refcounting frees them), but every allocation counts
    towards a collection, and a full collection walks all the objects the loaded frameworks
    made: pauses of milliseconds that show up in p99 latency. Objects alive after start-up
    are frozen (never scanned again) and collections become rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
