"""perf_analyzer's --input-data formats read into steps (no server needed)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from hepinfer.bench.inputs import batch, json_steps, load_steps
from hepinfer.client.model import TensorInfo
from hepinfer.errors import BenchError

X = TensorInfo("X", "INT32", (2, 2))
S = TensorInfo("S", "BYTES", (-1,))
Y = TensorInfo("Y", "FP32", (2,))


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(doc))
    return path


def test_every_content_form(tmp_path: Path) -> None:
    raw = base64.b64encode(np.array([5, 6, 7, 8], "<i4").tobytes()).decode()
    doc = {
        "data": [
            [  # one stream of two steps, then a second stream
                {"X": [[1, 2], [3, 4]], "S": {"content": ["a", "bc"], "shape": [2]}},
                {"X": {"b64": raw}, "S": {"content": ["d"], "shape": [1]}},
            ],
            [{"X": {"content": [9, 9, 9, 9], "shape": [2, 2]}, "S": {"content": [], "shape": [0]}}],
        ],
        "validation_data": [[{"Y": [1.5, 2.5]}, {}], [{}]],
    }
    steps = json_steps(_write(tmp_path, doc), [X, S], [Y], [(2, 2), None])
    assert len(steps) == 3
    np.testing.assert_array_equal(steps[0].inputs[0], [[1, 2], [3, 4]])
    assert steps[0].inputs[0].dtype == np.int32
    np.testing.assert_array_equal(steps[1].inputs[0], [[5, 6], [7, 8]])
    assert steps[0].inputs[1].tolist() == ["a", "bc"]
    assert steps[2].inputs[1].shape == (0,)
    np.testing.assert_array_equal(steps[0].expected["Y"], [1.5, 2.5])
    assert steps[1].expected == {}


def test_batches_take_consecutive_steps(tmp_path: Path) -> None:
    doc = {"data": [{"X": [k] * 4} for k in range(3)]}
    steps = json_steps(_write(tmp_path, doc), [X], [], [(2, 2)])
    stacked = batch(steps, 2, 2, batching=True)[0]
    assert stacked.shape == (2, 2, 2)
    assert stacked[:, 0, 0].tolist() == [2, 0]  # wraps round
    assert batch(steps, 1, 1, batching=False)[0].shape == (2, 2)


def test_variable_dims_need_a_shape(tmp_path: Path) -> None:
    path = _write(tmp_path, {"data": [{"S": ["a", "b"]}]})
    with pytest.raises(BenchError, match=r"input 'S' has variable dims \[-1\]"):
        json_steps(path, [S], [], [None])
    with pytest.raises(BenchError, match="--shape S:N"):
        load_steps("random", [S], [], [None], 0)


def test_generated_data() -> None:
    zero = load_steps("zero", [X, S], [], [(2, 2), (3,)], 0)
    assert len(zero) == 1
    assert not zero[0].inputs[0].any()
    assert zero[0].inputs[1].tolist() == ["0", "0", "0"]
    rand = load_steps("random", [X], [], [(2, 2)], 0)
    assert len(rand) == 8
    assert len({s.inputs[0].tobytes() for s in rand}) > 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "cannot read it as JSON"),
        ('{"data": [5]}', "step 0: is not an object"),
        ('{"data": [{"X": {"nope": 1}}]}', "without 'content' or 'b64'"),
        ('{"data": [{"X": ["a", "b", "c", "d"]}]}', "is not a list of INT32 values"),
        ('{"data": [{"X": [1, 2, 3, 4]}], "validation_data": [{}, {}]}', "validation_data has 2"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(BenchError, match=message):
        json_steps(path, [X], [], [(2, 2)])
