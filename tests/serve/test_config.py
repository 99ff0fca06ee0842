"""config.pbtxt parsing, auto-complete and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import ServeError
from hepinfer.serve.config import load_config, parse_config
from tests.serve.models import scale_model


def test_parse_error_names_the_file() -> None:
    with pytest.raises(ServeError, match=r"x/config.pbtxt: not a valid Triton model configuration"):
        parse_config("name: 'a' max_batch_size: [", "x/config.pbtxt")


def _write(tmp_path: Path, text: str, name: str = "m") -> Path:
    model_dir = tmp_path / name
    scale_model(model_dir / "1" / "model.onnx", 1.0)
    (model_dir / "config.pbtxt").write_text(text)
    return model_dir


def test_defaults_are_filled(tmp_path: Path) -> None:
    model_dir = _write(
        tmp_path,
        'platform: "onnxruntime_onnx" input [{name: "INPUT0" data_type: TYPE_FP32 dims: [4]}]'
        ' output [{name: "OUTPUT0" data_type: TYPE_FP32 dims: [4]}]',
    )
    config, backend, _ = load_config(model_dir)
    assert config.name == "m"
    assert backend == "onnxruntime"
    assert config.version_policy.latest.num_versions == 1
    assert config.instance_group[0].count == 1
    assert config.max_batch_size == 0


def test_autocomplete_from_onnx(tmp_path: Path) -> None:
    model_dir = tmp_path / "auto"
    scale_model(model_dir / "1" / "model.onnx", 1.0, width=6)
    config, backend, _ = load_config(model_dir)
    assert backend == "onnxruntime"
    assert config.max_batch_size == 4
    assert config.HasField("dynamic_batching")
    assert [(t.name, list(t.dims), t.data_type) for t in config.input] == [
        ("INPUT0", [6], mc.TYPE_FP32)
    ]
    assert [t.name for t in config.output] == ["OUTPUT0", "OUTPUT1"]


_IO = (
    ' input [{name: "INPUT0" data_type: TYPE_FP32 dims: [4]}]'
    ' output [{name: "OUTPUT0" data_type: TYPE_FP32 dims: [4]}]'
)
_ORT = 'platform: "onnxruntime_onnx" '


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('name: "other" platform: "onnxruntime_onnx"', "differs from its folder"),
        ('platform: "tensorrt_plan"', "no backend for backend/platform 'tensorrt_plan'"),
        (_ORT + "max_batch_size: 0 dynamic_batching {}" + _IO, "needs max_batch_size > 0"),
        (
            _ORT + "max_batch_size: 4 dynamic_batching {preferred_batch_size: [8]}" + _IO,
            "preferred_batch_size 8",
        ),
        (_ORT + _IO.replace(" data_type: TYPE_FP32", "", 1), "needs a data_type"),
        (_ORT + _IO.replace("dims: [4]", "dims: [-2]", 1), "use -1 for variable"),
    ],
)
def test_invalid_configs(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ServeError, match=words):
        load_config(_write(tmp_path, text))
