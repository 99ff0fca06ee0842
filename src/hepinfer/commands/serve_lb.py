"""`hepinfer serve-lb`: NGINX load balancing gRPC (and REST) over several server replicas."""

from __future__ import annotations

import argparse

HELP = "load-balance several inference servers behind NGINX (gRPC grpc_pass, optional REST)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the serve-lb options."""
    parser.add_argument(
        "--backend",
        action="append",
        required=True,
        metavar="HOST:PORT",
        help="gRPC address of a server replica (repeat for each)",
    )
    parser.add_argument(
        "--http-backend",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="HTTP (v2 REST) address of a replica (repeat; none: no REST listener)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address nginx listens on")
    parser.add_argument("--grpc-port", type=int, default=8101, help="gRPC port (0: a free one)")
    parser.add_argument("--http-port", type=int, default=8100, help="REST port (0: a free one)")
    parser.add_argument(
        "--method",
        default="least_conn",
        choices=("least_conn", "round_robin", "random"),
        help="how nginx picks a replica (default least_conn)",
    )
    parser.add_argument(
        "--max-fails",
        type=int,
        default=1,
        help="failures after which a replica is skipped for --fail-timeout seconds",
    )
    parser.add_argument("--fail-timeout", type=int, default=10, help="seconds (default 10)")
    parser.add_argument(
        "--no-retry-sent",
        action="store_true",
        help="do not re-send a request a failing replica already received (sequence models)",
    )
    parser.add_argument(
        "--max-message-mb", type=int, default=256, help="largest request in MiB (default 256)"
    )
    parser.add_argument("--workers", type=int, default=1, help="nginx worker processes")
    parser.add_argument("--access-log", action="store_true", help="write access.log")
    parser.add_argument(
        "--prefix",
        default=None,
        help="nginx prefix folder (config, pid, logs); default: a temp one",
    )
    parser.add_argument(
        "--forward-repository",
        action="store_true",
        help="also forward the model-repository API (index, load, unload); off by default, "
        "so clients of the balancer cannot load or unload models on the replicas",
    )
    parser.add_argument("--nginx", default=None, help="the nginx executable (default: on PATH)")
    parser.add_argument(
        "--write-config",
        "-o",
        default=None,
        metavar="FILE",
        help="only write the nginx configuration to FILE and exit (nginx not needed)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the configuration, or run nginx until interrupted."""
    import logging
    import signal
    import sys
    from pathlib import Path

    from hepinfer.serve.balancer import BalancerConfig, NginxBalancer, render_config

    config = BalancerConfig(
        grpc_backends=tuple(args.backend),
        grpc_port=args.grpc_port,
        http_backends=tuple(args.http_backend),
        http_port=args.http_port,
        host=args.host,
        method=args.method,
        max_fails=args.max_fails,
        fail_timeout_s=args.fail_timeout,
        retry_sent=not args.no_retry_sent,
        max_message_mb=args.max_message_mb,
        workers=args.workers,
        access_log=args.access_log,
        forward_repository=args.forward_repository,
    )
    if args.write_config:
        path = Path(args.write_config)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_config(config))
        sys.stdout.write(f"wrote {path}; run: nginx -p PREFIX/ -c {path.resolve()} -e error.log\n")
        return 0
    log = logging.getLogger("hepinfer.serve.balancer")
    log.setLevel(logging.INFO)
    balancer = NginxBalancer(config, prefix=args.prefix, nginx=args.nginx)

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        balancer.start()
        where = f"gRPC {balancer.grpc_url}"
        if balancer.http_port is not None:
            where += f", HTTP {balancer.http_url}"
        log.info(
            "nginx balancing %s over %d replica(s); prefix %s",
            where,
            len(config.grpc_backends),
            balancer.prefix,
        )
        code = balancer.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        # a second Ctrl-C or SIGTERM must not leave nginx running
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        balancer.stop()
    return 0 if code == 0 else 1
