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


CHECKED = """
name: "s" platform: "onnxruntime_onnx" max_batch_size: 8
input [{{ name: "{inp}" data_type: {itype} dims: [4] }}]
output [{{ name: "{out}" data_type: TYPE_FP32 dims: [4] }}]
"""


@pytest.mark.parametrize(
    ("inp", "itype", "out", "match"),
    [
        ("INPUT_X", "TYPE_FP32", "OUTPUT0", "unexpected inference input 'INPUT_X' in config"),
        ("INPUT0", "TYPE_FP32", "OUT", "unexpected inference output 'OUT' in config"),
        ("INPUT0", "TYPE_INT32", "OUTPUT0", "unexpected datatype TYPE_INT32 for inference input "),
    ],
)
def test_config_tensors_are_checked_at_load(
    tmp_path: Path, inp: str, itype: str, out: str, match: str
) -> None:
    """As Triton: a config naming tensors the model lacks, or typing them wrong, fails the load."""
    path = tmp_path / "model.onnx"
    scale_model(path, 2.0)
    config = parse_config(CHECKED.format(inp=inp, itype=itype, out=out), "t")
    with pytest.raises(ServeError, match=match) as e:
        OnnxRuntimeBackend().load(path, config)
    assert "unable to load model 's'" in str(e.value)
    if itype != "TYPE_FP32":
        assert "expecting TYPE_FP32" in str(e.value)
    else:
        assert "allowed" in str(e.value)
        assert ("INPUT0" if inp != "INPUT0" else "OUTPUT0, OUTPUT1") in str(e.value)
    good = parse_config(CHECKED.format(inp="INPUT0", itype="TYPE_FP32", out="OUTPUT1"), "t")
    OnnxRuntimeBackend().load(path, good)  # a subset of the outputs is fine
