"""`hepinfer serve`: run the Triton-compatible inference server on a model repository."""

from __future__ import annotations

import argparse

HELP = "serve a Triton model repository over gRPC and HTTP (Triton/KServe v2 protocol)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the serve options."""
    parser.add_argument(
        "repository", nargs="+", help="model repository folder(s) in Triton's layout"
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
        "--max-message-mb",
        type=int,
        default=256,
        help="largest request or response accepted, in MiB (default 256)",
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


def _port(value: int) -> int | None:
    return None if value < 0 else value


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    import asyncio
    import logging

    from hepinfer.serve.server import ServerOptions, install_uvloop, serve_forever

    options = ServerOptions(
        repositories=args.repository,
        host=args.host,
        grpc_port=_port(args.grpc_port),
        http_port=_port(args.http_port),
        metrics_port=_port(args.metrics_port),
        enable_shm=args.enable_shm,
        max_message_bytes=args.max_message_mb * 1024 * 1024,
        grpc_frontend=args.grpc_frontend,
        grpc_threads=args.grpc_threads,
        strict_readiness=args.strict_readiness == "true",
        model_control_mode=args.model_control_mode,
        repository_poll_secs=args.repository_poll_secs,
        load_models=tuple(args.load_model),
        exit_on_error=args.exit_on_error == "true",
        grpc_restricted=tuple(args.grpc_restricted_protocol),
        http_restricted=tuple(args.http_restricted_api),
    )
    if not getattr(args, "verbose", 0):
        # a server says where it listens and which models loaded, even without -v
        logging.getLogger("hepinfer.serve").setLevel(logging.INFO)
    if not args.no_uvloop:
        install_uvloop()
    asyncio.run(serve_forever(options))
    return 0
