"""Containment: no client-chosen name or config field makes the server write or read a file
outside its repository or its own temporary area (issue 17, items 1 and 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from hepinfer.errors import ProtocolError, UnsafePathError
from hepinfer.serve import InferenceServer, ServerOptions
from hepinfer.serve.paths import (
    TEMP_PREFIX,
    check_model_name,
    relative_file,
    remove_stale_temp_folders,
)
from tests.serve.models import SCALE_CONFIG, build_repository, scale_model

CONFIG = {
    "platform": "onnxruntime_onnx",
    "max_batch_size": 8,
    "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
    "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
}


def _model_bytes(tmp_path: Path) -> bytes:
    scale_model(tmp_path / "m.onnx", 3.0)
    return (tmp_path / "m.onnx").read_bytes()


def _escape_name(target: Path) -> str:
    """A relative name that climbs out of any temporary folder to `target`."""
    return "../" * 16 + str(target).lstrip("/")


def _grpc(server: InferenceServer) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(server.grpc_url)


def _snapshot(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.mark.parametrize("kind", ["relative", "absolute", "dot", "backslash"])
def test_grpc_load_name_cannot_write_outside(
    server: InferenceServer, tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "escaped"
    name = {
        "relative": _escape_name(target),
        "absolute": str(target),
        "dot": "..",
        "backslash": "..\\..\\escaped",
    }[kind]
    config = json.dumps({**CONFIG, "name": name})
    before = _snapshot(tmp_path)
    with pytest.raises(InferenceServerException, match="not a valid folder name") as e:
        _grpc(server).load_model(
            name, config=config, files={"file:1/model.onnx": _model_bytes(tmp_path)}
        )
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert _snapshot(tmp_path) - before == {tmp_path / "m.onnx"}
    assert not target.exists()
    assert not Path("/escaped").exists()
    assert _grpc(server).is_server_live()


def test_http_encoded_name_cannot_write_outside(server: InferenceServer, tmp_path: Path) -> None:
    import base64

    target = tmp_path / "escaped_http"
    for name in (_escape_name(target), "..", str(target)):
        segment = urllib.parse.quote(name, safe="")  # '..%2F..%2F...'
        body = json.dumps(
            {
                "parameters": {
                    "config": json.dumps({**CONFIG, "name": name}),
                    "file:1/model.onnx": base64.b64encode(b"payload").decode(),
                }
            }
        ).encode()
        request = urllib.request.Request(
            f"http://{server.http_url}/v2/repository/models/{segment}/load",
            data=body,
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=10)
        with e.value as answer:
            assert answer.code in (400, 404), answer.read()
        assert not target.exists()


def test_unload_checks_the_name(server: InferenceServer) -> None:
    with pytest.raises(InferenceServerException, match="not a valid folder name") as e:
        _grpc(server).unload_model("../scale")
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert _grpc(server).is_model_ready("scale")


def _scale_override(**fields: object) -> str:
    config = {
        "name": "scale",
        "platform": "onnxruntime_onnx",
        "max_batch_size": 8,
        "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]}],
        "output": [
            {"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4], **fields},
            {"name": "OUTPUT1", "data_type": "TYPE_FP32", "dims": [4]},
        ],
    }
    return json.dumps(config)


def _top_labels(server: InferenceServer) -> list[str]:
    x = grpcclient.InferInput("INPUT0", [1, 4], "FP32")
    x.set_data_from_numpy(np.array([[1, 4, 2, 3]], np.float32))
    out = grpcclient.InferRequestedOutput("OUTPUT0", class_count=4)
    result = _grpc(server).infer("scale", [x], outputs=[out]).as_numpy("OUTPUT0")
    return [v.decode().split(":")[-1] for v in result.reshape(-1)]


@pytest.mark.parametrize(
    "label", ["/etc/passwd", "../../../../../../../../etc/passwd", "..\\..\\etc\\passwd"]
)
def test_label_override_cannot_read_outside(server: InferenceServer, label: str) -> None:
    before = _top_labels(server)
    assert sorted(before) == ["alpha", "beta", "delta", "gamma"]
    with pytest.raises(InferenceServerException, match="label_filename") as e:
        _grpc(server).load_model("scale", config=_scale_override(label_filename=label))
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    # the failed reload kept the old model, with its own labels
    assert _top_labels(server) == before


@pytest.mark.parametrize(
    "filename", ["/etc/passwd", "../../model.onnx", "../../../../../../../tmp/x.onnx", "."]
)
def test_default_model_filename_cannot_leave_the_version_folder(
    server: InferenceServer, filename: str
) -> None:
    config = json.loads(_scale_override())
    config["default_model_filename"] = filename
    with pytest.raises(InferenceServerException, match="default_model_filename") as e:
        _grpc(server).load_model("scale", config=json.dumps(config))
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert _grpc(server).is_model_ready("scale")


def test_symlinks_out_of_the_model_folder_are_refused(tmp_path: Path) -> None:
    """A symlink placed in a repository (labels, model file, config) is not followed out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("root:x:0:0\n")
    scale_model(outside / "model.onnx", 5.0)
    (outside / "config.pbtxt").write_text(
        SCALE_CONFIG.format(name="cfg_link", extra="").replace(' label_filename: "labels.txt"', "")
    )
    repo = tmp_path / "repo"
    labels = repo / "label_link"
    scale_model(labels / "1" / "model.onnx", 2.0)
    (labels / "config.pbtxt").write_text(SCALE_CONFIG.format(name="label_link", extra=""))
    (labels / "labels.txt").symlink_to(outside / "secret.txt")
    model = repo / "model_link"
    (model / "1").mkdir(parents=True)
    (model / "1" / "model.onnx").symlink_to(outside / "model.onnx")
    (model / "config.pbtxt").write_text(
        SCALE_CONFIG.format(name="model_link", extra="").replace(
            ' label_filename: "labels.txt"', ""
        )
    )
    cfg = repo / "cfg_link"
    scale_model(cfg / "1" / "model.onnx", 2.0)
    (cfg / "config.pbtxt").symlink_to(outside / "config.pbtxt")
    options = ServerOptions(
        [repo], grpc_port=0, http_port=None, metrics_port=None, exit_on_error=False
    )
    with InferenceServer(options) as srv:
        client = _grpc(srv)
        index = {m.name: m for m in client.get_model_repository_index().models}
        for name in ("label_link", "model_link", "cfg_link"):
            assert index[name].state == "UNAVAILABLE", name
            assert "outside its model folder" in index[name].reason, index[name].reason


def test_files_stay_in_the_temporary_area_and_are_removed(tmp_path: Path) -> None:
    repo = build_repository(tmp_path / "repo")
    temp = Path(tempfile.gettempdir())
    mine = f"{TEMP_PREFIX}{os.getpid()}-"
    before = {p for p in temp.iterdir() if p.name.startswith(mine)}
    name = f"loaded{uuid.uuid4().hex[:6]}"
    options = ServerOptions(
        [repo],
        grpc_port=0,
        http_port=None,
        metrics_port=None,
        model_control_mode="explicit",
        load_models=("*",),
        exit_on_error=False,
    )
    with InferenceServer(options) as srv:
        client = _grpc(srv)
        client.load_model(
            name,
            config=json.dumps({**CONFIG, "name": name}),
            files={"file:1/model.onnx": _model_bytes(tmp_path)},
        )
        assert client.is_model_ready(name)
        created = {p for p in temp.iterdir() if p.name.startswith(mine)} - before
        assert len(created) == 1
        assert (next(iter(created)) / name / "1" / "model.onnx").is_file()
        for bad in ("1/../../x", "/abs.onnx", "", "1/"):
            with pytest.raises(InferenceServerException) as e:
                client.load_model(
                    name, config=json.dumps({**CONFIG, "name": name}), files={f"file:{bad}": b"x"}
                )
            assert e.value.status() == "StatusCode.INVALID_ARGUMENT", bad
        assert client.is_model_ready(name)  # failed reloads keep the loaded model
    assert not any(p.exists() for p in created)


def test_stale_temporary_folders_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"{TEMP_PREFIX}{dead_pid}-abc"
    (stale / "m" / "1").mkdir(parents=True)
    live = tmp_path / f"{TEMP_PREFIX}{os.getppid()}-def"
    live.mkdir()
    own = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-ghi"
    own.mkdir()
    other = tmp_path / f"{TEMP_PREFIX}notapid"
    other.mkdir()
    assert remove_stale_temp_folders(tmp_path) == [stale]
    assert not stale.exists()
    assert all(p.exists() for p in (live, own, other))


@pytest.mark.parametrize(
    "name", ["", ".", "..", ".hidden", "a/b", "a\\b", "a\x00b", "tab\tname", "x" * 256]
)
def test_check_model_name_refuses(name: str) -> None:
    with pytest.raises(ProtocolError):
        check_model_name(name)


@pytest.mark.parametrize("name", ["particlenet_AK4_PT", "deepmet", "a.b-c", "x" * 255, "Ünï"])
def test_check_model_name_accepts(name: str) -> None:
    assert check_model_name(name) == name


def test_relative_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert relative_file(tmp_path, "sub/labels.txt", "x") == (tmp_path / "sub/labels.txt").resolve()
    for bad in ("/etc/passwd", "../x", "sub/../../x", "", "a\x00"):
        with pytest.raises(UnsafePathError, match="relative to the model folder"):
            relative_file(tmp_path, bad, "label_filename")
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(UnsafePathError, match="outside its model folder"):
        relative_file(tmp_path, "link/passwd", "label_filename")
