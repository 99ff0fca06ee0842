"""The NanoAOD -> ParticleNet workflow direct (onnxruntime in-process) against as-a-service.

Reads the PFNano events once, then tags every jet `--passes` times: direct (one onnxruntime
session, one thread), and through a `hepinfer serve` process with the SONIC-style client
(Mode.ASYNC, `--window` events in flight, feature building overlapping inference). Reports
wall time, events/s, this process's CPU per event (the job's own cost: features + inference
direct, features + client as-a-service) and the largest score difference::

    .venv/bin/python benchmarks/bench_workflow.py [--passes 20]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_client import hepinfer_server
from hepinfer.client import ClientOptions, Mode, SonicClient
from hepinfer.workflows.particlenet import direct_model, run_direct, run_service
from hepinfer.workflows.pfnano import read_events

DATA = Path(os.environ.get("HEPINFER_TEST_DATA", BENCH.parent.parent / "shared" / "data"))
SONIC = DATA / "triton-repos" / "sonic-models"
PFNANO = DATA / "events" / "pfnano.root"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=20, help="times over the 10 events")
    parser.add_argument("--window", type=int, default=4, help="events in flight (service)")
    args = parser.parse_args()
    if not PFNANO.is_file():
        sys.stderr.write(f"needs {PFNANO} (set HEPINFER_TEST_DATA)\n")
        return 1
    events = list(read_events(PFNANO))
    n = len(events) * args.passes

    def stream() -> itertools.chain[dict[str, np.ndarray]]:
        return itertools.chain.from_iterable(itertools.repeat(events, args.passes))

    infer = direct_model(SONIC / "particlenet_AK4" / "1" / "model.onnx")
    run_direct(events[:2], infer)  # warm-up
    cpu0, wall0 = time.process_time(), time.perf_counter()
    direct = run_direct(stream(), infer)
    d_cpu, d_wall = time.process_time() - cpu0, time.perf_counter() - wall0

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        (repo / "particlenet_AK4").symlink_to(SONIC / "particlenet_AK4")
        with hepinfer_server([repo], "particlenet_AK4") as url:
            opts = ClientOptions("particlenet_AK4", servers=(url,), mode=Mode.ASYNC)
            with SonicClient(opts) as client:
                run_service(events[:2], client)  # warm-up
                cpu0, wall0 = time.process_time(), time.perf_counter()
                service = run_service(stream(), client, window=args.window)
                s_cpu, s_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    diff = float(np.abs(service.scores - direct.scores).max())
    print(f"{n} events, {len(direct)} jets; max |score difference| = {diff:.2e}")
    print("| run | wall | events/s | job CPU per event |")
    print("|---|---|---|---|")
    print(
        f"| direct (onnxruntime, 1 thread) | {d_wall:.2f} s | {n / d_wall:.0f} | {d_cpu / n * 1e3:.2f} ms |"
    )
    print(f"| as a service (hepinfer serve, async client) | {s_wall:.2f} s | {n / s_wall:.0f} | "
          f"{s_cpu / n * 1e3:.2f} ms |")  # fmt: skip
    print(f"| service / direct | {s_wall / d_wall:.2f}x | | {s_cpu / d_cpu:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
