"""onnxruntime backend: thread parameters, string tensors, load errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hepinfer.errors import ProtocolError, ServeError
from hepinfer.serve.backends.onnxruntime import OnnxRuntimeBackend
from hepinfer.serve.config import parse_config
from tests.serve.models import scale_model, string_model


def test_runs_and_checks_parameters(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    scale_model(path, 4.0)
    config = parse_config(
        'name: "s" parameters { key: "intra_op_thread_count" value { string_value: "2" } }', "t"
    )
    instance = OnnxRuntimeBackend().load(path, config)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(instance.run({"INPUT0": x}, ["OUTPUT0"])["OUTPUT0"], 4 * x)
    bad = parse_config(
        'name: "s" parameters { key: "intra_op_thread_count" value { string_value: "many" } }', "t"
    )
    with pytest.raises(ServeError, match="'intra_op_thread_count' must be an integer"):
        OnnxRuntimeBackend().load(path, bad)


def test_strings_round_trip_as_bytes(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    string_model(path)
    instance = OnnxRuntimeBackend().load(path, parse_config('name: "s"', "t"))
    text = np.array([[b"x", "\u00e9".encode()]], dtype=np.object_)
    np.testing.assert_array_equal(instance.run({"TEXT_IN": text}, ["TEXT_OUT"])["TEXT_OUT"], text)
    with pytest.raises(ProtocolError, match="must be UTF-8"):
        instance.run({"TEXT_IN": np.array([[b"\xff", b"a"]], dtype=np.object_)}, ["TEXT_OUT"])


def test_load_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"junk")
    with pytest.raises(ServeError, match=r"onnxruntime cannot load .*model.onnx"):
        OnnxRuntimeBackend().load(path, parse_config('name: "s"', "t"))
