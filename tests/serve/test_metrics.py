"""Prometheus metrics: Triton's nv_inference_* names, per model and version."""

from __future__ import annotations

import re
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.serve import InferenceServer
from hepinfer.serve.metrics import METRICS


def _scrape(server: InferenceServer) -> dict[str, float]:
    with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r'(\w+)\{model="(\w+)",version="(\d+)"\} (\d+)', line)
        assert match, line
        values[f"{match[1]}/{match[2]}/{match[3]}"] = float(match[4])
    return values


def test_metrics_follow_requests(server: InferenceServer) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    before = _scrape(server)
    data = np.zeros((3, 4), np.float32)
    inp = grpcclient.InferInput("INPUT0", [3, 4], "FP32")
    inp.set_data_from_numpy(data)
    client.infer("versioned", [inp], model_version="2")
    bad = grpcclient.InferInput("INPUT0", [1, 5], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 5), np.float32))
    with pytest.raises(InferenceServerException, match="unexpected shape"):
        client.infer("versioned", [bad], model_version="2")
    after = _scrape(server)
    key = "/versioned/2"
    assert (
        after["nv_inference_request_success" + key] - before["nv_inference_request_success" + key]
        == 1
    )
    assert (
        after["nv_inference_request_failure" + key] - before["nv_inference_request_failure" + key]
        == 1
    )
    assert after["nv_inference_count" + key] - before["nv_inference_count" + key] == 3
    assert after["nv_inference_exec_count" + key] - before["nv_inference_exec_count" + key] == 1
    assert (
        after["nv_inference_request_duration_us" + key]
        > before["nv_inference_request_duration_us" + key]
    )
    assert after["nv_inference_pending_request_count" + key] == 0
    names = {k.split("/")[0] for k in after}
    assert names == {name for name, *_ in METRICS}
    assert "nv_inference_count/versioned/1" not in after  # not loaded by the version policy
