"""`hepinfer autoscale`: server replicas behind NGINX, scaled on queue time (KEDA's rule)."""

from __future__ import annotations

import argparse

HELP = "run server replicas behind NGINX and start/stop them on queue time (as KEDA would)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the autoscale options."""
    parser.add_argument("repository", nargs="+", help="model repository folder(s)")
    parser.add_argument("--min-replicas", type=int, default=1, help="replicas at least (1)")
    parser.add_argument("--max-replicas", type=int, default=4, help="replicas at most (4)")
    parser.add_argument(
        "--threshold-ms",
        type=float,
        default=10.0,
        help="target mean queue time in ms (KEDA trigger threshold; default 10)",
    )
    parser.add_argument(
        "--window", type=float, default=30.0, help="rate() window in seconds (default 30)"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between scrapes (default 2)"
    )
    parser.add_argument(
        "--cooldown", type=float, default=30.0, help="seconds after a change before the next"
    )
    parser.add_argument(
        "--up-stabilization",
        type=float,
        default=0.0,
        help="scale up to the lowest recommendation of this many seconds (default 0)",
    )
    parser.add_argument(
        "--down-stabilization",
        type=float,
        default=300.0,
        help="scale down to the highest recommendation of this many seconds (default 300)",
    )
    parser.add_argument("--max-step-up", type=int, default=2, help="replicas added per change")
    parser.add_argument("--max-step-down", type=int, default=1, help="replicas removed per change")
    parser.add_argument("--tolerance", type=float, default=0.1, help="no change within 1 +- this")
    parser.add_argument("--model", default=None, help="count only this model's queue time")
    parser.add_argument("--host", default="127.0.0.1", help="address nginx and replicas use")
    parser.add_argument("--grpc-port", type=int, default=8101, help="the balancer's gRPC port")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an argument for every `hepinfer serve` replica (repeat; e.g. --serve-arg=--grpc-frontend=native)",
    )


def run(args: argparse.Namespace) -> int:
    """Start the replicas and nginx; scale until Ctrl-C or SIGTERM."""
    import logging
    import signal

    from hepinfer.serve.autoscale import ScalePolicy
    from hepinfer.serve.scaler import AutoscaleOptions, Autoscaler

    policy = ScalePolicy(
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        threshold_ms=args.threshold_ms,
        window_s=args.window,
        tolerance=args.tolerance,
        up_stabilization_s=args.up_stabilization,
        down_stabilization_s=args.down_stabilization,
        max_step_up=args.max_step_up,
        max_step_down=args.max_step_down,
        cooldown_s=args.cooldown,
    )
    options = AutoscaleOptions(
        repositories=tuple(args.repository),
        policy=policy,
        interval_s=args.interval,
        model=args.model,
        host=args.host,
        grpc_port=args.grpc_port,
        serve_args=tuple(args.serve_arg),
    )
    logging.getLogger("hepinfer.serve.scaler").setLevel(logging.INFO)

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    scaler = Autoscaler(options)
    try:
        scaler.start()
        scaler.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        scaler.stop()
    return 0
