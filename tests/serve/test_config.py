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


def test_strict_config_refuses_a_missing_config_pbtxt(tmp_path: Path) -> None:
    """Triton's --strict-model-config=true: nothing is completed, with Triton's reason."""
    model_dir = tmp_path / "auto"
    scale_model(model_dir / "1" / "model.onnx", 1.0)
    message = (
        f"failed to open text file for read {model_dir / 'config.pbtxt'}: No such file or directory"
    )
    with pytest.raises(ServeError) as info:
        load_config(model_dir, strict=True)
    assert str(info.value).startswith(message)
    assert "--strict-model-config=false" in str(info.value)
    config, _, _ = load_config(model_dir, strict=False)
    assert [t.name for t in config.input] == ["INPUT0"]


def test_strict_config_completes_nothing(tmp_path: Path) -> None:
    """A config without outputs is an error in strict mode, completed otherwise."""
    model_dir = _write(
        tmp_path,
        'platform: "onnxruntime_onnx" input [{name: "INPUT0" data_type: TYPE_FP32 dims: [4]}]',
    )
    with pytest.raises(ServeError, match="declares no output tensors"):
        load_config(model_dir, strict=True)
    loose, _, _ = load_config(model_dir)
    assert [t.name for t in loose.output] == ["OUTPUT0", "OUTPUT1"]
    (model_dir / "config.pbtxt").write_text(_ORT + _IO)
    strict, _, _ = load_config(model_dir, strict=True)
    assert [t.name for t in strict.output] == ["OUTPUT0"]
    assert strict.max_batch_size == 0
    assert not strict.HasField("dynamic_batching")


def test_strict_config_reason_equals_tritons(tritonserver_bin: Path, tmp_path: Path) -> None:
    """The reason a model without config.pbtxt fails is Triton 2.51's, word for word."""
    from hepinfer.serve import InferenceServer, ServerOptions
    from tests.peers_util import TritonPeer

    repo = tmp_path / "repo"
    scale_model(repo / "auto" / "1" / "model.onnx", 1.0)
    args = ("--strict-model-config=true", "--exit-on-error=false", "--allow-metrics=false")
    with TritonPeer(repo, binary=tritonserver_bin, extra_args=args) as triton:
        triton_log = triton.log()
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        exit_on_error=False,
        strict_model_config=True,
    )
    with InferenceServer(options) as ours:
        reason = ours.repository.failures()["auto"]
        assert not ours.repository.ready("auto")
    triton_reason = reason.split(" (write a config.pbtxt")[0]
    assert f"Poll failed for model directory 'auto': {triton_reason}" in triton_log
