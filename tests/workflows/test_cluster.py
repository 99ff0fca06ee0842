"""The ParticleNet workflow on a Dask LocalCluster: every worker a client of the service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uproot")
pytest.importorskip("onnxruntime")
distributed = pytest.importorskip("distributed")

from hepinfer.client import ClientOptions
from hepinfer.serve import InferenceServer
from hepinfer.workflows.cluster import run_on_dask
from hepinfer.workflows.particlenet import JetScores


@pytest.mark.slow
def test_dask_workers_use_the_service(
    pn: tuple[Path, Path],
    direct: JetScores,
    pn_server: InferenceServer,
) -> None:
    _, events = pn
    options = ClientOptions("particlenet_AK4", servers=(pn_server.grpc_url,))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        scores = run_on_dask(dask_client, events, options, partitions=3)
    np.testing.assert_array_equal(scores.entry, direct.entry)
    np.testing.assert_array_equal(scores.jet, direct.jet)
    np.testing.assert_allclose(scores.scores, direct.scores, rtol=0, atol=1e-5)
