"""`hepinfer bench`: perf_analyzer-style load generation and SONIC-style scaling scans."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hepinfer.client.tls import TlsOptions

HELP = "benchmark a Triton-protocol server (perf_analyzer modes, scaling scan of client jobs)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the bench options (names as perf_analyzer's where they exist)."""
    parser.add_argument("-m", "--model", required=True, help="model name on the server")
    parser.add_argument("-x", "--model-version", default="", help="model version (default: latest)")
    parser.add_argument(
        "-u",
        "--url",
        help="server host:port (default 127.0.0.1:8001 for gRPC, 127.0.0.1:8000 for HTTP)",
    )
    parser.add_argument(
        "-i",
        "--protocol",
        default="grpc",
        type=str.lower,
        choices=["grpc", "http"],
        help="protocol: grpc (default here; perf_analyzer's default is http) or http",
    )
    parser.add_argument("-b", "--batch-size", type=int, default=1, help="rows per request")
    parser.add_argument(
        "--input-data",
        default="random",
        metavar="zero|random|PATH",
        help="request data: zero, random (default), a directory with one raw file per input, "
        "or a perf_analyzer JSON file (data, optional validation_data)",
    )
    parser.add_argument(
        "--shared-memory",
        default="none",
        choices=["none", "system", "cuda"],
        help="inputs in system shared memory registered with the server (same machine; the "
        "server needs --enable-shm); cuda is refused (no GPU client)",
    )
    parser.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "native", "python"],
        help="request loop: native (gRPC C++, concurrency mode), python (asyncio), auto "
        "(native where it runs; default)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="completion-queue threads of the native loop (default 1)",
    )
    parser.add_argument(
        "-a", "--async", dest="async_mode", action="store_true", help="accepted (always async)"
    )
    parser.add_argument(
        "--sync", action="store_true", help="accepted for perf_analyzer compatibility (no effect)"
    )
    tls = parser.add_argument_group("TLS (perf_analyzer's flags)")
    tls.add_argument(
        "--ssl-grpc-use-ssl", action="store_true", help="connect to the server over TLS"
    )
    tls.add_argument(
        "--ssl-grpc-root-certifications-file",
        type=Path,
        metavar="PEM",
        help="CA certificates that signed the server's certificate (default: system roots)",
    )
    tls.add_argument(
        "--ssl-grpc-private-key-file", type=Path, metavar="PEM", help="client key (mutual TLS)"
    )
    tls.add_argument(
        "--ssl-grpc-certificate-chain-file",
        type=Path,
        metavar="PEM",
        help="client certificate chain (mutual TLS)",
    )
    parser.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="NAME:D1,D2",
        help="shape of an input with variable dims (without the batch dim); repeatable",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--concurrency-range",
        metavar="START:END:STEP",
        help="requests kept in flight (default 1)",
    )
    mode.add_argument(
        "--request-rate-range", metavar="START:END:STEP", help="requests started per second"
    )
    mode.add_argument(
        "--scan",
        action="store_true",
        help="scaling scan: simulated client jobs at --event-rate each (see --clients)",
    )
    parser.add_argument(
        "--request-distribution",
        choices=["constant", "poisson"],
        default="constant",
        help="gaps between requests in request-rate mode",
    )
    parser.add_argument(
        "-p",
        "--measurement-interval",
        type=float,
        default=5000.0,
        metavar="MS",
        help="measurement window in ms (default 5000)",
    )
    parser.add_argument(
        "--measurement-mode",
        default="time_windows",
        choices=["time_windows", "count_windows"],
        help="windows of -p ms (time_windows, default) or of at least "
        "--measurement-request-count requests (count_windows)",
    )
    parser.add_argument(
        "--measurement-request-count",
        type=int,
        default=50,
        help="requests per window in count_windows mode (default 50)",
    )
    parser.add_argument(
        "-s",
        "--stability-percentage",
        type=float,
        default=10.0,
        help="the last 3 windows must agree within this percentage (default 10)",
    )
    parser.add_argument(
        "-r",
        "--max-trials",
        type=int,
        default=10,
        help="windows per setting at most (default 10)",
    )
    parser.add_argument(
        "--percentile",
        type=int,
        default=-1,
        help="latency percentile (1-99) used for stability and reported; -1 (default): "
        "the average latency",
    )
    parser.add_argument("-f", "--latency-report-file", help="write perf_analyzer's CSV here")
    scan = parser.add_argument_group("scaling scan (--scan)")
    scan.add_argument(
        "--clients",
        default="1:512",
        help="job counts: 'N1,N2,...' or 'START:END' powers of two (default 1:512)",
    )
    scan.add_argument(
        "--event-rate", type=float, default=10.0, help="target events/s per job (default 10)"
    )
    scan.add_argument(
        "--work-fraction",
        type=float,
        default=0.5,
        help="simulated CPU work per event, as a fraction of the event period (default 0.5)",
    )
    scan.add_argument(
        "--window", type=float, help="seconds measured per point (default 5; --quick: 3)"
    )
    scan.add_argument(
        "--warmup", type=float, help="seconds of load before each window (default 2; --quick: 1)"
    )
    scan.add_argument(
        "--saturation-threshold",
        type=float,
        default=0.95,
        help="saturated when the per-job rate is below this fraction of the target",
    )
    scan.add_argument(
        "--processes",
        type=int,
        default=1,
        help="client processes the jobs are split over (default 1: one asyncio loop)",
    )
    scan.add_argument(
        "--quick",
        action="store_true",
        help="short windows (1 s warm-up, 3 s window): 1 to 512 jobs in about a minute",
    )
    scan.add_argument(
        "-o", "--output", help="scan output prefix: writes PREFIX.csv, PREFIX.png, PREFIX.txt"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")


def _tls(args: argparse.Namespace) -> TlsOptions | None:
    """The TLS options the --ssl-grpc-* flags give (None: plain gRPC)."""
    files = (
        args.ssl_grpc_root_certifications_file,
        args.ssl_grpc_private_key_file,
        args.ssl_grpc_certificate_chain_file,
    )
    if not args.ssl_grpc_use_ssl:
        if any(f is not None for f in files):
            from hepinfer.errors import BenchError

            msg = "the --ssl-grpc-*-file options need --ssl-grpc-use-ssl"
            raise BenchError(msg)
        return None
    from hepinfer.client.tls import TlsOptions

    return TlsOptions(*files)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table; write the CSV / plot."""
    import asyncio
    import dataclasses
    import sys
    from pathlib import Path

    from hepinfer.bench import (
        QUICK,
        LoadOptions,
        Measurement,
        ScanOptions,
        Target,
        concurrency_sweep,
        format_scan_table,
        format_table,
        parse_range,
        parse_shapes,
        plot_scan,
        rate_sweep,
        scan,
        write_csv,
        write_scan_csv,
    )
    from hepinfer.bench.load import choose_engine, settings_lines
    from hepinfer.bench.scan import parse_clients
    from hepinfer.errors import BenchError

    if args.shared_memory == "cuda":
        msg = "--shared-memory cuda needs a GPU client, which hepinfer bench is not; use system"
        raise BenchError(msg)
    url = args.url or ("127.0.0.1:8000" if args.protocol == "http" else "127.0.0.1:8001")
    shapes = parse_shapes(args.shape)
    target = Target(
        url,
        args.model,
        version=args.model_version,
        batch_size=args.batch_size,
        shapes=shapes,
        timeout_s=args.timeout,
        tls=_tls(args),
        protocol=args.protocol,
        input_data=args.input_data,
        shared_memory=args.shared_memory,
    )
    if args.scan:
        base = QUICK if args.quick else ScanOptions()
        options = dataclasses.replace(
            base,
            clients=parse_clients(args.clients),
            event_rate=args.event_rate,
            work_fraction=args.work_fraction,
            saturation_threshold=args.saturation_threshold,
            processes=args.processes,
            window_s=base.window_s if args.window is None else args.window,
            warmup_s=base.warmup_s if args.warmup is None else args.warmup,
        )

        async def do_scan() -> str:
            try:
                await target.connect()
                result = await scan(target, options)
            finally:
                await target.close()
            table = format_scan_table(result)
            if args.output:
                prefix = Path(args.output)
                prefix.parent.mkdir(parents=True, exist_ok=True)
                write_scan_csv(result, prefix.with_suffix(".csv"))
                plot_scan(result, prefix.with_suffix(".png"), f"{args.model} at {args.url}")
                prefix.with_suffix(".txt").write_text(table + "\n")
            return table

        sys.stdout.write(asyncio.run(do_scan()) + "\n")
        return 0

    if args.percentile != -1 and not 1 <= args.percentile <= 99:
        msg = f"--percentile {args.percentile} must be from 1 to 99, or -1 (the average)"
        raise BenchError(msg)
    load = LoadOptions(
        measurement_interval_s=args.measurement_interval / 1000.0,
        stability_percentage=args.stability_percentage,
        max_trials=args.max_trials,
        distribution=args.request_distribution,
        measurement_mode=args.measurement_mode,
        measurement_request_count=args.measurement_request_count,
        percentile=None if args.percentile == -1 else args.percentile,
        engine=args.engine,
        threads=args.threads,
    )
    live = not args.quiet

    def report(line: str) -> None:
        if live:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    async def do_load() -> list[Measurement]:
        try:
            await target.connect()
            mode = "request_rate" if args.request_rate_range else "concurrency"
            for line in settings_lines(target, load, choose_engine(target, load, mode)):
                report(line)
            if args.request_rate_range:
                rates = parse_range(args.request_rate_range, "--request-rate-range")
                return await rate_sweep(target, rates, load, report)
            levels = parse_range(args.concurrency_range or "1", "--concurrency-range")
            return await concurrency_sweep(target, levels, load, report)
        finally:
            await target.close()

    results = asyncio.run(do_load())
    sys.stdout.write(format_table(results) + "\n")
    if args.latency_report_file:
        write_csv(results, Path(args.latency_report_file))
    failed = sum(m.failures for m in results)
    if failed:
        msg = f"{failed} request(s) failed (see the 'failed' column); check the server's log"
        raise BenchError(msg)
    return 0
