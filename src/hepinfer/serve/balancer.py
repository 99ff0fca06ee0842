"""A standard gRPC load balancer in front of server replicas: NGINX with `grpc_pass`.

`render_config` writes an NGINX configuration (from the packaged jinja2 template
``templates/nginx-grpc.conf.j2``) that spreads gRPC calls, and optionally the v2 REST API,
over several hepinfer or Triton servers; `NginxBalancer` runs nginx with it in a private
prefix folder (pid, logs and temp folders inside), waits until it listens, and stops it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Self

import jinja2

from hepinfer._version import __version__
from hepinfer.errors import ServeError

#: upstream choice methods nginx offers for gRPC (`round_robin` is nginx's default)
METHODS = ("least_conn", "round_robin", "random")
_LOG_LEVELS = ("debug", "info", "notice", "warn", "error", "crit")


def _check_address(address: str, what: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        msg = f"{what} {address!r} is not 'host:port' (e.g. '127.0.0.1:8001')"
        raise ServeError(msg)


@dataclass(frozen=True)
class BalancerConfig:
    """What the balancer listens on and where it sends requests.

    Ports: 0 lets `NginxBalancer` pick a free one; `http_port` is used only with
    `http_backends`.
    """

    grpc_backends: tuple[str, ...]
    grpc_port: int = 8101
    http_backends: tuple[str, ...] = ()
    http_port: int = 8100
    host: str = "127.0.0.1"
    method: str = "least_conn"
    #: failed attempts within `fail_timeout_s` after which a backend is skipped for that long
    max_fails: int = 1
    fail_timeout_s: int = 10
    #: attempts per request over the backends (0: as many as there are backends)
    tries: int = 0
    #: also re-send a request that already reached a backend which then failed
    retry_sent: bool = True
    max_message_mb: int = 256
    keepalive: int = 32
    keepalive_requests: int = 100000
    connect_timeout_s: int = 2
    read_timeout_s: int = 300
    workers: int = 1
    worker_connections: int = 1024
    access_log: bool = False
    log_level: str = "warn"
    #: forward the model-repository API (index, load, unload) to the backends; off by
    #: default: clients behind a balancer must not load or unload models on the replicas
    forward_repository: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "grpc_backends", tuple(self.grpc_backends))
        object.__setattr__(self, "http_backends", tuple(self.http_backends))
        if not self.grpc_backends:
            msg = "BalancerConfig needs at least one gRPC backend 'host:port'"
            raise ServeError(msg)
        for address in self.grpc_backends:
            _check_address(address, "gRPC backend")
        for address in self.http_backends:
            _check_address(address, "HTTP backend")
        for name in ("grpc_port", "http_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                msg = f"{name} {port} is not a TCP port (0..65535; 0 picks a free one)"
                raise ServeError(msg)
        if self.method not in METHODS:
            msg = f"balancing method {self.method!r} is unknown; use one of {', '.join(METHODS)}"
            raise ServeError(msg)
        if self.log_level not in _LOG_LEVELS:
            msg = f"log level {self.log_level!r} is unknown; use one of {', '.join(_LOG_LEVELS)}"
            raise ServeError(msg)
        positive = ("max_message_mb", "keepalive", "keepalive_requests", "workers")
        for name in (*positive, "connect_timeout_s", "read_timeout_s", "worker_connections"):
            if getattr(self, name) <= 0:
                msg = f"{name} {getattr(self, name)} must be positive"
                raise ServeError(msg)
        for name in ("max_fails", "fail_timeout_s", "tries"):
            if getattr(self, name) < 0:
                msg = f"{name} {getattr(self, name)} must be 0 or more"
                raise ServeError(msg)


def template_path() -> Path:
    """The packaged NGINX configuration template."""
    return Path(str(resources.files("hepinfer.serve") / "templates" / "nginx-grpc.conf.j2"))


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_path().parent),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(template_path().name)


def render_config(
    config: BalancerConfig,
    *,
    grpc_port: int | None = None,
    http_port: int | None = None,
    http2_on: bool = False,
) -> str:
    """The nginx.conf text; `http2_on` uses the `http2 on;` directive of nginx >= 1.25.1."""
    return _template().render(
        cfg=config,
        version=__version__,
        grpc_port=config.grpc_port if grpc_port is None else grpc_port,
        http_port=config.http_port if http_port is None else http_port,
        http2_on=http2_on,
    )


def find_nginx(nginx: str | os.PathLike[str] | None = None) -> Path:
    """The nginx executable: `nginx` given, on PATH, or Debian's /usr/sbin/nginx."""
    candidates = [str(nginx)] if nginx else ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return Path(found)
    msg = (
        f"nginx not found ({', '.join(candidates)}); install it (Debian: `apt-get install nginx`, "
        "or `make system`) or pass its path"
    )
    raise ServeError(msg)


def nginx_version(nginx: str | os.PathLike[str] | None = None) -> tuple[int, ...]:
    """Nginx's version, e.g. (1, 22, 1)."""
    out = subprocess.run(
        [str(find_nginx(nginx)), "-v"], capture_output=True, text=True, check=False, timeout=30
    )
    match = re.search(r"nginx/(\d+(?:\.\d+)*)", out.stderr + out.stdout)
    if match is None:
        msg = f"cannot read the version from `nginx -v`: {(out.stderr + out.stdout).strip()!r}"
        raise ServeError(msg)
    return tuple(int(p) for p in match.group(1).split("."))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host` (nginx cannot report a port it picked itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class NginxBalancer:
    """nginx running `render_config(config)` in `prefix` (a new temporary folder if None).

    Use as a context manager, or `start` / `stop`. `grpc_port` / `http_port` are the ports
    it listens on once started (free ones picked for 0).
    """

    def __init__(
        self,
        config: BalancerConfig,
        prefix: str | os.PathLike[str] | None = None,
        nginx: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config
        self.nginx = find_nginx(nginx)
        self._own_prefix = prefix is None
        self.prefix = Path(prefix) if prefix is not None else None
        self.grpc_port = config.grpc_port
        self.http_port = config.http_port if config.http_backends else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_url(self) -> str:
        """'host:port' of the gRPC listener."""
        return f"{self.config.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """'host:port' of the HTTP listener."""
        if self.http_port is None:
            msg = "this balancer has no HTTP backends, so no HTTP listener"
            raise ServeError(msg)
        return f"{self.config.host}:{self.http_port}"

    @property
    def config_path(self) -> Path:
        """Where the configuration is written (inside the prefix)."""
        if self.prefix is None:
            msg = "the balancer has no prefix folder yet; call start() first"
            raise ServeError(msg)
        return self.prefix / "nginx.conf"

    def _command(self, *extra: str) -> list[str]:
        assert self.prefix is not None
        return [
            str(self.nginx),
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.config_path),
            "-e",
            "error.log",
            *extra,
        ]

    def _error_log(self) -> str:
        assert self.prefix is not None
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def _pid_written(self) -> bool:
        assert self.prefix is not None
        assert self._process is not None
        try:
            return (self.prefix / "nginx.pid").read_text().strip() == str(self._process.pid)
        except OSError:
            return False

    def write_config(self) -> Path:
        """Create the prefix folder, write nginx.conf there and check it with `nginx -t`."""
        if self.prefix is None:
            self.prefix = Path(tempfile.mkdtemp(prefix="hepinfer-nginx-"))
        self.prefix.mkdir(parents=True, exist_ok=True)
        # nginx started as root runs its workers as `nobody`: they must reach the temp folders
        self.prefix.chmod(0o755)
        if self.config.grpc_port == 0:
            self.grpc_port = free_port(self.config.host)
        if self.config.http_backends and self.config.http_port == 0:
            self.http_port = free_port(self.config.host)
        text = render_config(
            self.config,
            grpc_port=self.grpc_port,
            http_port=self.http_port or 0,
            http2_on=nginx_version(self.nginx) >= (1, 25, 1),
        )
        self.config_path.write_text(text)
        check = subprocess.run(
            self._command("-t", "-q"), capture_output=True, text=True, check=False, timeout=60
        )
        if check.returncode != 0:
            msg = (
                f"nginx rejects the configuration {self.config_path}: "
                f"{(check.stderr + check.stdout).strip()} {self._error_log()}"
            )
            raise ServeError(msg)
        return self.config_path

    def start(self, timeout: float = 15.0) -> None:
        """Start nginx (in the foreground of a child process) and wait until it listens."""
        if self._process is not None:
            msg = "this balancer is already running; stop() it first"
            raise ServeError(msg)
        self.write_config()
        self._process = subprocess.Popen(
            self._command("-g", "daemon off;"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ports = [p for p in (self.grpc_port, self.http_port) if p is not None]
        deadline = time.monotonic() + timeout
        # nginx writes its pid file once it has bound every listening socket
        while not (self._pid_written() and all(_listening(self.config.host, p) for p in ports)):
            code = self._process.poll()
            if code is not None or time.monotonic() > deadline:
                log = self._error_log()
                self.stop()
                why = f"exited with status {code}" if code is not None else f"not up in {timeout}s"
                msg = f"nginx {why} (ports {ports}); its log: {log}"
                raise ServeError(msg)
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop nginx (gracefully: requests in flight finish) and remove a temporary prefix."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._own_prefix and self.prefix is not None:
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None

    def workers(self) -> frozenset[int]:
        """Process ids of nginx's worker processes now (Linux /proc; empty elsewhere)."""
        if self._process is None:
            return frozenset()
        pid = self._process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return frozenset()
        return frozenset(int(p) for p in text.split())

    def reload(self, config: BalancerConfig, drain_timeout: float = 30.0) -> bool:
        """Switch the running nginx to `config`'s backends without dropping a request.

        The new configuration keeps the listening ports; it is checked with `nginx -t`
        first (the old one stays on error). nginx then gets SIGHUP: new workers take new
        connections while the old ones finish the requests they have in flight and exit.
        Returns once the old workers are gone (True), so a backend left out is drained and
        can be stopped, or after `drain_timeout` seconds (False: old workers still busy, or
        no Linux /proc to watch them).
        """
        if self._process is None or self._process.poll() is not None:
            msg = "this balancer is not running; start() it before reload()"
            raise ServeError(msg)
        if config.host != self.config.host:
            msg = f"reload cannot move nginx from {self.config.host} to {config.host}; restart it"
            raise ServeError(msg)
        config = dataclasses.replace(
            config,
            grpc_port=self.grpc_port,
            http_port=self.http_port if self.http_port is not None else config.http_port,
        )
        if bool(config.http_backends) != (self.http_port is not None):
            msg = "reload cannot add or remove the REST listener; restart the balancer"
            raise ServeError(msg)
        previous = self.config_path.read_text()
        old_workers, old_config = self.workers(), self.config
        self.config = config
        try:
            self.write_config()
        except ServeError:
            self.config = old_config
            self.config_path.write_text(previous)
            raise
        self._process.send_signal(signal.SIGHUP)
        if not old_workers:  # no /proc to watch the workers: give nginx a moment
            time.sleep(min(1.0, drain_timeout))
            return False
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"nginx exited during a reload; its log: {self._error_log()}"
                raise ServeError(msg)
            workers = self.workers()
            if workers and not workers & old_workers:
                return True
            time.sleep(0.02)
        return False

    def wait(self) -> int:
        """Wait until nginx exits; its exit status."""
        if self._process is None:
            msg = "this balancer is not running; start() it first"
            raise ServeError(msg)
        return self._process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
