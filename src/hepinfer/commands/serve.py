"""`hepinfer serve`: run the Triton-compatible inference server on a model repository."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hepinfer.serve.tls import ServerTls

HELP = "serve a Triton model repository over gRPC and HTTP (Triton/KServe v2 protocol)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the serve options."""
    parser.add_argument(
        "repository", nargs="*", help="model repository folder(s) in Triton's layout"
    )
    parser.add_argument(
        "--model-repository",
        action="append",
        default=[],
        metavar="PATH",
        help="a model repository folder, as tritonserver takes it (repeatable; adds to the "
        "positional folders)",
    )
    parser.add_argument(
        "--log-verbose",
        type=int,
        default=0,
        metavar="N",
        help="tritonserver's verbose logging level: 0 (default) as -v's absence, 1 or more "
        "logs every request's path at DEBUG level",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--grpc-port", type=int, default=8001, help="gRPC port (-1: off)")
    parser.add_argument("--http-port", type=int, default=8000, help="HTTP port (-1: off)")
    parser.add_argument(
        "--metrics-port", type=int, default=8002, help="Prometheus metrics port (-1: off)"
    )
    parser.add_argument(
        "--enable-shm",
        action="store_true",
        help="allow clients to register system shared-memory regions (off by default)",
    )
    parser.add_argument(
        "--shm-prefix",
        default="",
        metavar="PREFIX",
        help="with --enable-shm, register only shared-memory objects whose name starts with "
        "PREFIX (default: any name)",
    )
    parser.add_argument(
        "--max-message-mb",
        type=int,
        default=256,
        help="largest request or response accepted, in MiB (default 256)",
    )
    parser.add_argument(
        "--http-header-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds an HTTP connection may idle or take to send its headers (default 30)",
    )
    parser.add_argument(
        "--http-body-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds an HTTP request body may take to arrive (default 60; then 408)",
    )
    parser.add_argument(
        "--max-queued-mb",
        type=int,
        default=1024,
        help="memory budget for the inputs of accepted requests, all models together, in MiB "
        "(default 1024; 0: no limit); past it requests get RESOURCE_EXHAUSTED / 429",
    )
    parser.add_argument(
        "--strict-readiness",
        choices=("true", "false"),
        default="true",
        help="as Triton: with true (default) the server is not ready while a model failed "
        "to load; with false it is ready whenever it is live",
    )
    parser.add_argument(
        "--model-control-mode",
        choices=("none", "poll", "explicit"),
        default="none",
        help="as Triton: none (default) loads every model at start and refuses load/unload; "
        "poll also re-scans the repository every --repository-poll-secs; explicit loads only "
        "the --load-model models and lets clients load and unload",
    )
    parser.add_argument(
        "--repository-poll-secs",
        type=float,
        default=15.0,
        help="poll mode: seconds between repository scans (default 15)",
    )
    parser.add_argument(
        "--load-model",
        action="append",
        default=[],
        metavar="NAME",
        help="explicit mode: load this model at start (repeatable; '*' for all)",
    )
    parser.add_argument(
        "--exit-on-error",
        choices=("true", "false"),
        default="true",
        help="as Triton: with true (default) start-up fails when a model fails to load; with "
        "false the server serves the others",
    )
    parser.add_argument(
        "--strict-model-config",
        choices=("true", "false"),
        default="false",
        help="as Triton: with false (default) a missing config.pbtxt, or its missing inputs "
        "and outputs, are completed from the model file; with true a model needs a complete "
        "config.pbtxt",
    )
    parser.add_argument(
        "--disable-auto-complete-config",
        action="store_true",
        help="as Triton: the same as --strict-model-config=true",
    )
    parser.add_argument(
        "--grpc-restricted-protocol",
        action="append",
        default=[],
        metavar="GROUPS:KEY=VALUE",
        help="as Triton: gRPC calls to these API groups (comma-separated: health, metadata, "
        "inference, shared-memory, model-config, model-repository, statistics, trace, "
        "logging) need the metadata 'triton-grpc-protocol-KEY: VALUE' (repeatable)",
    )
    parser.add_argument(
        "--http-restricted-api",
        action="append",
        default=[],
        metavar="GROUPS:KEY=VALUE",
        help="as Triton: HTTP requests to these API groups need the header 'KEY: VALUE' "
        "(repeatable)",
    )
    parser.add_argument(
        "--grpc-frontend",
        choices=("auto", "native", "aio"),
        default="auto",
        help="gRPC implementation: native (gRPC C++, built on first use), aio (grpc.aio), "
        "auto (native when it builds, else aio; default)",
    )
    parser.add_argument(
        "--grpc-threads",
        type=int,
        default=1,
        help="threads running the native gRPC front end's transport (default 1)",
    )
    parser.add_argument(
        "--no-uvloop", action="store_true", help="use asyncio's loop even if uvloop is installed"
    )
    for proto, name in (("grpc", "gRPC"), ("http", "HTTP")):
        tls = parser.add_argument_group(
            f"TLS for {name} (Triton's --grpc-*ssl* flags, for {proto})"
        )
        tls.add_argument(f"--{proto}-use-ssl", action="store_true", help=f"serve {name} over TLS")
        tls.add_argument(
            f"--{proto}-server-cert", type=Path, metavar="PEM", help="the server's certificate"
        )
        tls.add_argument(f"--{proto}-server-key", type=Path, metavar="PEM", help="its key")
        tls.add_argument(
            f"--{proto}-root-cert",
            type=Path,
            metavar="PEM",
            help="root certificate that signs client certificates (mutual TLS)",
        )
        tls.add_argument(
            f"--{proto}-use-ssl-mutual",
            action="store_true",
            help="require a client certificate signed by the root certificate",
        )


def _tls(args: argparse.Namespace, proto: str) -> ServerTls | None:
    """The TLS options of one front end from its flags (None: plain)."""
    use = getattr(args, f"{proto}_use_ssl") or getattr(args, f"{proto}_use_ssl_mutual")
    cert, key = getattr(args, f"{proto}_server_cert"), getattr(args, f"{proto}_server_key")
    root = getattr(args, f"{proto}_root_cert")
    if not use:
        if cert or key or root:
            from hepinfer.errors import ServeError

            msg = f"--{proto}-server-cert/-key/--{proto}-root-cert need --{proto}-use-ssl"
            raise ServeError(msg)
        return None
    if cert is None or key is None:
        from hepinfer.errors import ServeError

        msg = f"--{proto}-use-ssl needs --{proto}-server-cert and --{proto}-server-key"
        raise ServeError(msg)
    from hepinfer.serve.tls import ServerTls

    return ServerTls(cert, key, root, getattr(args, f"{proto}_use_ssl_mutual"))


def _port(value: int) -> int | None:
    return None if value < 0 else value


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    import asyncio
    import logging

    from hepinfer.serve.server import ServerOptions, install_uvloop, serve_forever

    repositories = [*args.repository, *args.model_repository]
    if not repositories:
        from hepinfer.errors import ServeError

        msg = "no model repository: give a folder (hepinfer serve models/) or --model-repository"
        raise ServeError(msg)
    options = ServerOptions(
        repositories=repositories,
        host=args.host,
        grpc_port=_port(args.grpc_port),
        http_port=_port(args.http_port),
        metrics_port=_port(args.metrics_port),
        enable_shm=args.enable_shm,
        shm_prefix=args.shm_prefix,
        max_message_bytes=args.max_message_mb * 1024 * 1024,
        max_queued_bytes=args.max_queued_mb * 1024 * 1024,
        http_header_timeout_s=args.http_header_timeout,
        http_body_timeout_s=args.http_body_timeout,
        grpc_frontend=args.grpc_frontend,
        grpc_threads=args.grpc_threads,
        strict_readiness=args.strict_readiness == "true",
        grpc_tls=_tls(args, "grpc"),
        http_tls=_tls(args, "http"),
        model_control_mode=args.model_control_mode,
        repository_poll_secs=args.repository_poll_secs,
        load_models=tuple(args.load_model),
        exit_on_error=args.exit_on_error == "true",
        grpc_restricted=tuple(args.grpc_restricted_protocol),
        http_restricted=tuple(args.http_restricted_api),
        strict_model_config=args.strict_model_config == "true" or args.disable_auto_complete_config,
    )
    if args.log_verbose > 0:
        logging.getLogger().setLevel(logging.DEBUG)  # tritonserver --log-verbose=1
    elif not getattr(args, "verbose", 0):
        # a server says where it listens and which models loaded, even without -v
        logging.getLogger("hepinfer.serve").setLevel(logging.INFO)
    if not args.no_uvloop:
        install_uvloop()
    asyncio.run(serve_forever(options))
    return 0
