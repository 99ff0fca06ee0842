"""Parts of a served model that need no server: classification strings."""

from __future__ import annotations

import numpy as np

from hepinfer.serve.model import classify


def test_classify_batched_with_labels() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]], np.float32)
    out = classify(scores, 2, ["g", "q"], batched=True)
    assert out.tolist() == [[b"0.700000:1:q", b"0.200000:2"], [b"0.500000:0:g", b"0.250000:1:q"]]


def test_classify_unbatched_clips_count() -> None:
    out = classify(np.array([3.0, 1.0]), 5, [], batched=False)
    assert out.tolist() == [b"3.000000:0", b"1.000000:1"]
