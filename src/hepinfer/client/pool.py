"""The servers a client may use: choice by health and queue time, and the local fallback.

This is the job of CMSSW's `TritonService`: know which servers answer for the model, give each
request the best one, and start a fallback server when none does. A background thread checks
the servers every `health_interval_s` (ServerLive, ModelReady, ModelStatistics); a request
goes to the healthy server with the lowest recent queue time, ties broken by the fewest
requests this client has in flight there (so equal servers share the load).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from hepinfer.client.connection import Connection
from hepinfer.client.options import ClientOptions
from hepinfer.errors import ClientError

if TYPE_CHECKING:
    from hepinfer.client.options import FallbackOptions

log = logging.getLogger(__name__)


class ServerPool:
    """Connections to every configured server, plus the fallback once started."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.connections = [
            Connection(url, options.max_message_bytes, options.channel_options, tls=options.tls)
            for url in options.servers
        ]
        self._lock = threading.Lock()
        self._fallback_lock = threading.Lock()
        self._fallback_server: Any = None
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self.check_all()
        if options.health_interval_s > 0 and self.connections:
            self._monitor = threading.Thread(
                target=self._watch, name="hepinfer-client-health", daemon=True
            )
            self._monitor.start()

    # ------------------------------------------------------------------ health
    def check_all(self) -> None:
        """Check every server now."""
        opts = self.options
        for conn in self.connections:
            conn.check(opts.model, opts.version, opts.health_timeout_s)

    def _watch(self) -> None:
        while not self._stop.wait(self.options.health_interval_s):
            self.check_all()

    @property
    def fallback_started(self) -> bool:
        """Whether the local fallback server runs."""
        return self._fallback_server is not None

    # ------------------------------------------------------------------ choice
    def acquire(self, avoid: Connection | None = None) -> Connection:
        """The best healthy server (counted as one more request in flight there).

        `avoid` (the server that just failed) is used only if nothing else is healthy. With
        no healthy server the servers are checked again, then the fallback is started.
        """
        conn = self._best(avoid)
        if conn is None:
            self.check_all()
            conn = self._best(avoid)
        if conn is None:
            conn = self.start_fallback()
            with self._lock:
                conn.in_flight += 1
        return conn

    def _best(self, avoid: Connection | None) -> Connection | None:
        with self._lock:
            best: Connection | None = None
            best_key: tuple[bool, float, int] | None = None
            for conn in self.connections:
                if not conn.healthy:
                    continue
                key = (conn is avoid, conn.recent_queue_ns, conn.in_flight)
                if best_key is None or key < best_key:
                    best, best_key = conn, key
            if best is not None:
                best.in_flight += 1
            return best

    def release(
        self, conn: Connection, ok: bool, server_down: bool = False, count: bool = True
    ) -> None:
        """A request on `conn` finished; `server_down` marks it unhealthy until re-checked."""
        with self._lock:
            conn.in_flight -= 1
            if ok:
                conn.completed += count
            else:
                conn.failed += 1
                if server_down and conn.healthy:
                    log.warning(
                        "server %s failed a request; avoiding it until it answers again", conn.url
                    )
                    conn.healthy = False

    # ------------------------------------------------------------------ fallback
    def start_fallback(self) -> Connection:
        """Start (once) the local in-process server and add it to the pool."""
        fallback = self.options.fallback
        with self._fallback_lock:
            for conn in self.connections:
                if conn.local:
                    conn.healthy = True
                    return conn
            if fallback is None:
                urls = ", ".join(self.options.servers) or "(none)"
                msg = (
                    f"no server answers for model {self.options.model!r} (tried {urls}) and no "
                    "fallback is configured; start a server or set ClientOptions.fallback"
                )
                raise ClientError(msg)
            server = _start_local_server(fallback, self.options.use_shared_memory)
            self._fallback_server = server
            conn = Connection(
                server.grpc_url,
                self.options.max_message_bytes,
                self.options.channel_options,
                local=True,
            )
            if not conn.check(self.options.model, self.options.version, fallback.start_timeout_s):
                msg = (
                    f"the fallback server on {server.grpc_url} does not serve model "
                    f"{self.options.model!r}; check the fallback repositories "
                    f"{[str(p) for p in fallback.repositories]}"
                )
                raise ClientError(msg)
            log.warning(
                "no remote server answers for %s: started the local fallback server on %s",
                self.options.model,
                server.grpc_url,
            )
            with self._lock:
                self.connections.append(conn)
            return conn

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Stop the health checks, close channels and stop the fallback server."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join()
        for conn in self.connections:
            conn.close()
        if self._fallback_server is not None:
            self._fallback_server.stop_thread()
            self._fallback_server = None


def _start_local_server(fallback: FallbackOptions, enable_shm: bool) -> Any:
    try:
        from hepinfer.serve import InferenceServer, ServerOptions
    except ImportError as exc:
        from hepinfer.errors import MissingDependencyError

        raise MissingDependencyError(
            exc.name or "hepinfer.serve", "serve", "the client's fallback server"
        ) from exc
    options = ServerOptions(
        list(fallback.repositories),
        host=fallback.host,
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        enable_shm=enable_shm,
        # a last resort serves what it can: one broken model must not cost the others
        exit_on_error=False,
    )
    server = InferenceServer(options)
    server.start_in_thread(fallback.start_timeout_s)
    return server
