"""A served model: classification strings, inline and threaded execution."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.model import classify
from tests.serve.models import SCALE_CONFIG, scale_model


def test_classify_batched_with_labels() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]], np.float32)
    out = classify(scores, 2, ["g", "q"], batched=True)
    assert out.tolist() == [[b"0.700000:1:q", b"0.200000:2"], [b"0.500000:0:g", b"0.250000:1:q"]]


def test_classify_unbatched_clips_count() -> None:
    out = classify(np.array([3.0, 1.0]), 5, [], batched=False)
    assert out.tolist() == [b"3.000000:0", b"1.000000:1"]


@pytest.mark.parametrize("inline", ["true", "false", "auto"])
def test_execution_modes_agree(tmp_path: Path, inline: str) -> None:
    """Inline (on the loop) and threaded execution give the same answers under concurrency."""
    scale_model(tmp_path / "m" / "1" / "model.onnx", 5.0)
    (tmp_path / "m" / "config.pbtxt").write_text(
        SCALE_CONFIG.format(
            name="m",
            extra='dynamic_batching { }\nparameters { key: "execute_inline" value { '
            f'string_value: "{inline}" }} }}',
        ).replace(' label_filename: "labels.txt"', "")
    )
    options = ServerOptions([tmp_path], grpc_port=0, http_port=None, metrics_port=None)
    with InferenceServer(options) as server, ThreadPoolExecutor(8) as pool:
        client = grpcclient.InferenceServerClient(server.grpc_url)

        def one(i: int) -> None:
            data = np.full((1 + i % 3, 4), i, np.float32)
            inp = grpcclient.InferInput("INPUT0", list(data.shape), "FP32")
            inp.set_data_from_numpy(data)
            result = client.infer("m", [inp])
            np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), 5 * data)
            np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), data + 1)

        list(pool.map(one, range(64)))
        stats = client.get_inference_statistics("m", as_json=True)["model_stats"][0]
        assert int(stats["inference_count"]) == sum(1 + i % 3 for i in range(64))
