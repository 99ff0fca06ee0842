"""The ParticleNet workflow on a Dask cluster, every worker a client of the service.

    from distributed import Client, LocalCluster
    from hepinfer.client import ClientOptions
    from hepinfer.workflows.cluster import run_on_dask

    with LocalCluster(n_workers=4) as cluster, Client(cluster) as dask_client:
        scores = run_on_dask(dask_client, "pfnano.root",
                             ClientOptions("particlenet_AK4", servers=("node1:8001",)))

The file is split into entry ranges; each task reads its range, builds the inputs and sends
one request per event through its own `SonicClient` (SONIC's model: many CPU jobs sharing
the inference servers), and returns the per-jet scores, joined in entry order.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hepinfer.client import ClientOptions, SonicClient
from hepinfer.workflows.particlenet import JetScores, concat, run_service
from hepinfer.workflows.pfnano import WorkflowError, count_events, read_events


def tag_range(
    path: str, start: int, stop: int, options: ClientOptions, min_jet_pt: float, window: int
) -> JetScores:
    """Tag the jets of entries [start, stop) through the service (one Dask task)."""
    with SonicClient(options) as client:
        events = read_events(path, entry_start=start, entry_stop=stop)
        return run_service(events, client, min_jet_pt, window, first_entry=start)


def run_on_dask(
    dask_client: Any,
    path: Path | str,
    options: ClientOptions,
    partitions: int | None = None,
    min_jet_pt: float = 15.0,
    window: int = 4,
) -> JetScores:
    """Run the workflow as `partitions` Dask tasks (default: one per worker thread)."""
    n = count_events(path)
    if partitions is None:
        partitions = max(1, sum(dask_client.nthreads().values()))
    if partitions < 1:
        msg = f"partitions {partitions} must be at least 1"
        raise WorkflowError(msg)
    bounds = [n * k // partitions for k in range(partitions + 1)]
    futures = [
        dask_client.submit(tag_range, str(path), lo, hi, options, min_jet_pt, window, pure=False)
        for lo, hi in itertools.pairwise(bounds)
        if hi > lo
    ]
    return concat(dask_client.gather(futures))
