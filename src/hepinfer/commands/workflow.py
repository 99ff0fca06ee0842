"""`hepinfer workflow`: tag the jets of PFNano events with ParticleNet, direct or as a service."""

from __future__ import annotations

import argparse

HELP = "run ParticleNet jet tagging on NanoAOD (PFNano) events, in-process or through servers"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the workflow options."""
    parser.add_argument("events", help="PFNano ROOT file (e.g. ../shared/data/events/pfnano.root)")
    parser.add_argument("-o", "--output", required=True, help="per-jet scores (.csv or .npz)")
    parser.add_argument(
        "--repository",
        help="Triton model repository with the model (for --direct, or served locally when "
        "no --server answers)",
    )
    parser.add_argument("--model", default="particlenet_AK4", help="model name")
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        help="gRPC server host:port (repeat for several; chosen by health and queue time)",
    )
    parser.add_argument(
        "--direct", action="store_true", help="run the model in-process with onnxruntime"
    )
    parser.add_argument(
        "--mode", choices=["sync", "async", "pseudo_async"], default="async", help="client mode"
    )
    parser.add_argument(
        "--compression", choices=["none", "gzip", "deflate"], default="none", help="gRPC"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per attempt")
    parser.add_argument("--tries", type=int, default=3, help="attempts per request in all")
    parser.add_argument(
        "--streaming", action="store_true", help="one ModelStreamInfer stream per server"
    )
    parser.add_argument(
        "--shm",
        action="store_true",
        help="pass inputs through shared memory to servers on this machine",
    )
    parser.add_argument("--max-events", type=int, default=None, help="stop after N events")
    parser.add_argument("--min-jet-pt", type=float, default=15.0, help="jets below are skipped")
    parser.add_argument("--window", type=int, default=4, help="events in flight (service)")


def run(args: argparse.Namespace) -> int:
    """Run the workflow and write the scores."""
    import logging
    import sys
    import time
    from pathlib import Path

    from hepinfer.errors import HepinferError
    from hepinfer.workflows.particlenet import direct_model, run_direct, run_service
    from hepinfer.workflows.pfnano import read_events

    log = logging.getLogger("hepinfer.workflow")
    repo = Path(args.repository) if args.repository else None
    events = read_events(args.events, entry_stop=args.max_events)
    start = time.perf_counter()
    if args.direct:
        if repo is None:
            msg = "--direct needs --repository (the model file is REPOSITORY/MODEL/1/model.onnx)"
            raise HepinferError(msg)
        scores = run_direct(
            events, direct_model(repo / args.model / "1" / "model.onnx"), args.min_jet_pt
        )
    else:
        from hepinfer.client import ClientOptions, FallbackOptions, Mode, SonicClient

        if not args.server and repo is None:
            msg = "give --server HOST:PORT, or --repository to serve the model in-process"
            raise HepinferError(msg)
        options = ClientOptions(
            args.model,
            servers=tuple(args.server),
            mode=Mode(args.mode),
            compression=args.compression,
            timeout_s=args.timeout,
            allowed_tries=args.tries,
            streaming=args.streaming,
            use_shared_memory=args.shm,
            fallback=FallbackOptions((repo,)) if repo is not None else None,
        )
        with SonicClient(options) as client:
            scores = run_service(events, client, args.min_jet_pt, args.window)
            log.info("client: %s", client.stats())
    elapsed = time.perf_counter() - start
    path = scores.write(args.output)
    n_events = int(scores.entry.max()) + 1 if len(scores) else 0
    sys.stdout.write(f"{len(scores)} jets from {n_events} events in {elapsed:.2f} s -> {path}\n")
    return 0
